/**
 * Which encoding counts a model's tokens, by model family (prefix), so dated snapshots and new
 * minor versions ("gpt-4o-2024-11-20", "gpt-4.1-mini") need no table update.
 */

import type { EncodingName } from "./encodings.ts";

// Order matters: "gpt-4o…" and "gpt-4.1…" must be tested before the bare "gpt-4" family.
const O200K_PREFIXES = ["gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "gpt-oss"];
// o-series names are short; require a separator so "o1x" or "o3de" stay with the default.
const O_SERIES = /^o[134](?:-|$)/;
const CL100K_PREFIXES = ["gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3-", "text-embedding-ada-002"];
const P50K_PREFIXES = ["text-davinci-002", "text-davinci-003", "text-davinci-edit-", "code-"];

/**
 * Drops what routing adds around a model name: a provider path ("openai/gpt-4o") and a
 * fine-tune wrapper ("ft:gpt-4o-mini-2024-07-18:org::id" → "gpt-4o-mini-2024-07-18").
 */
function baseModelName(model: string): string {
  let name = model.trim().toLowerCase();
  const slash = name.lastIndexOf("/");
  if (slash >= 0) name = name.slice(slash + 1);
  if (name.startsWith("ft:")) {
    const end = name.indexOf(":", 3);
    name = end < 0 ? name.slice(3) : name.slice(3, end);
  }
  return name;
}

function startsWithAny(name: string, prefixes: readonly string[]): boolean {
  for (const prefix of prefixes) if (name.startsWith(prefix)) return true;
  return false;
}

/**
 * The encoding for a model: o200k_base for the GPT-4o/4.1/4.5/5 and o-series families,
 * cl100k_base for GPT-4, GPT-3.5 and the OpenAI embedding models, p50k_base for the Codex and
 * text-davinci-002/003 models; gpt-oss uses o200k_harmony, which is o200k_base plus special
 * tokens. Every other model (Llama, Mistral, Claude, Gemini, …) gets cl100k_base: their own
 * tokenizers are not shipped, so their counts are estimates from one fixed, documented choice.
 *
 * @example
 * encodingFor("gpt-4o-mini");            // "o200k_base"
 * encodingFor("gpt-4-turbo");            // "cl100k_base"
 * encodingFor("meta-llama/Llama-3-70b"); // "cl100k_base" (approximation)
 */
export function encodingFor(model: string): EncodingName {
  const name = baseModelName(model);
  if (startsWithAny(name, O200K_PREFIXES) || O_SERIES.test(name)) return "o200k_base";
  if (startsWithAny(name, CL100K_PREFIXES)) return "cl100k_base";
  if (startsWithAny(name, P50K_PREFIXES)) return "p50k_base";
  return "cl100k_base";
}
