/**
 * Reply text and token usage of an Anthropic Messages reply, for the ledger record and the
 * metrics of POST /v1/messages: the client gets (and the ledger hashes) Anthropic's format, so the
 * readers that know OpenAI's `choices` and `usage.prompt_tokens` learn this one here.
 *
 * Fed one parsed document at a time: the whole JSON reply, or each SSE event's data. Anthropic
 * counts input apart from cache reads and writes; the record's prompt_tokens is all three, as
 * OpenAI counts it (the same rule as ./response.ts `usageFromAnthropic`).
 */

/** What is gathered so far: the record's own shape. */
export interface ReplyParts {
  content: string;
  usage: { completion_tokens: number; prompt_tokens: number } | null;
}

type Usage = { input_tokens?: unknown; output_tokens?: unknown; cache_creation_input_tokens?: unknown; cache_read_input_tokens?: unknown } | null | undefined;

const n = (v: unknown): number => (typeof v === "number" ? v : 0);

/** The prompt tokens in an Anthropic usage object, or undefined when it does not say. */
function promptOf(u: Usage): number | undefined {
  if (typeof u?.input_tokens !== "number") return undefined;
  return u.input_tokens + n(u.cache_creation_input_tokens) + n(u.cache_read_input_tokens);
}

/**
 * Adds one document of an Anthropic reply to `out`. Returns false when `doc` is not Anthropic-shaped
 * (no string `type`: OpenAI's documents have `object` instead), so the caller can try OpenAI's shape.
 *
 * @example
 * const out = { content: "", usage: null };
 * takeAnthropic({ type: "message", content: [{ type: "text", text: "Hi" }], usage: { input_tokens: 9, output_tokens: 1 } }, out);
 * // out: { content: "Hi", usage: { completion_tokens: 1, prompt_tokens: 9 } }
 */
export function takeAnthropic(doc: any, out: ReplyParts): boolean {
  if (typeof doc?.type !== "string") return false;
  switch (doc.type) {
    case "message": {
      for (const b of Array.isArray(doc.content) ? doc.content : []) if (b?.type === "text" && typeof b.text === "string") out.content += b.text;
      const prompt = promptOf(doc.usage);
      if (prompt !== undefined) out.usage = { completion_tokens: n(doc.usage.output_tokens), prompt_tokens: prompt };
      return true;
    }
    case "message_start": {
      const u = doc.message?.usage as Usage;
      const prompt = promptOf(u);
      if (prompt !== undefined) out.usage = { completion_tokens: n(u!.output_tokens), prompt_tokens: prompt };
      return true;
    }
    case "content_block_delta":
      if (doc.delta?.type === "text_delta" && typeof doc.delta.text === "string") out.content += doc.delta.text;
      return true;
    case "message_delta": {
      // Cumulative counts: output always, input too in newer replies (and in Warden's translations).
      const u = doc.usage as Usage;
      if (typeof u?.output_tokens !== "number") return true;
      out.usage = { completion_tokens: u.output_tokens, prompt_tokens: promptOf(u) ?? out.usage?.prompt_tokens ?? 0 };
      return true;
    }
    default:
      return true; // ping, content_block_start/stop, message_stop, error: no text, no usage
  }
}
