/**
 * Which strings of a request the WAF scans, and where each one lives.
 *
 * Chat: every message's string content, the `text` (and `refusal`) of each content part, and
 * the arguments of assistant tool calls and legacy function calls. A part's `text` is scanned
 * whatever its `type`, because open-weight servers accept more part types than OpenAI does
 * ("input_text", …) and a typo'd type must not become a way around the WAF.
 * Completions: `prompt` (and `suffix`) strings. Embeddings: `input` strings. Token-id arrays are
 * not text and are skipped.
 *
 * Locations are kept as path segments and turned into OpenAI-style params
 * (`messages[0].content[1].text`) only when something is found.
 */

export type Endpoint = "chat/completions" | "completions" | "embeddings";

export type Path = readonly (string | number)[];

export interface Target {
  path: Path;
  text: string;
}

/**
 * `messages[2].content`, `input[3]`: a path in the form OpenAI uses for `param`.
 *
 * @example
 * paramOf(["messages", 0, "content", 1, "text"]); // "messages[0].content[1].text"
 */
export function paramOf(path: Path): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? seg : `.${seg}`;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * The strings to scan in `body` for `endpoint`, in request order.
 *
 * @example
 * collectTargets("embeddings", { model: "m", input: ["a", "b"] }); // [{ path: ["input", 0], text: "a" }, …]
 */
export function collectTargets(endpoint: Endpoint, body: Record<string, unknown>): Target[] {
  const out: Target[] = [];
  if (endpoint === "chat/completions") collectChat(body, out);
  else if (endpoint === "completions") {
    collectStrings(body, "prompt", out);
    if (typeof body.suffix === "string") out.push({ path: ["suffix"], text: body.suffix });
  } else collectStrings(body, "input", out);
  return out;
}

/** `field` as a string or an array of strings (token arrays are skipped). */
function collectStrings(body: Record<string, unknown>, field: string, out: Target[]): void {
  const value = body[field];
  if (typeof value === "string") out.push({ path: [field], text: value });
  else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (typeof item === "string") out.push({ path: [field, i], text: item });
    }
  }
}

function collectChat(body: Record<string, unknown>, out: Target[]): void {
  const messages = body.messages;
  if (!Array.isArray(messages)) return;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (!isObject(message)) continue;
    const content = message.content;
    if (typeof content === "string") out.push({ path: ["messages", i, "content"], text: content });
    else if (Array.isArray(content)) {
      for (let j = 0; j < content.length; j++) {
        const part = content[j];
        if (!isObject(part)) continue;
        if (typeof part.text === "string") out.push({ path: ["messages", i, "content", j, "text"], text: part.text });
        if (typeof part.refusal === "string") out.push({ path: ["messages", i, "content", j, "refusal"], text: part.refusal });
      }
    }
    if (typeof message.refusal === "string") out.push({ path: ["messages", i, "refusal"], text: message.refusal });
    const calls = message.tool_calls;
    if (Array.isArray(calls)) {
      for (let k = 0; k < calls.length; k++) {
        const call = calls[k];
        if (!isObject(call)) continue;
        if (isObject(call.function) && typeof call.function.arguments === "string") {
          out.push({ path: ["messages", i, "tool_calls", k, "function", "arguments"], text: call.function.arguments });
        }
        if (isObject(call.custom) && typeof call.custom.input === "string") {
          out.push({ path: ["messages", i, "tool_calls", k, "custom", "input"], text: call.custom.input });
        }
      }
    }
    const legacy = message.function_call;
    if (isObject(legacy) && typeof legacy.arguments === "string") {
      out.push({ path: ["messages", i, "function_call", "arguments"], text: legacy.arguments });
    }
  }
}

/**
 * A copy of `root` with the string at each path replaced, copying only the objects and arrays
 * along those paths (everything else is shared with the original).
 *
 * @example
 * withReplacements(body, [[["messages", 1, "content"], "[REDACTED:email]"]]);
 */
export function withReplacements(root: Record<string, unknown>, replacements: readonly (readonly [Path, string])[]): Record<string, unknown> {
  const copied = new Set<unknown>();
  const copy = <T extends object>(v: T): T => {
    const c = (Array.isArray(v) ? v.slice() : { ...v }) as T;
    copied.add(c);
    return c;
  };
  const top = copy(root);
  for (const [path, value] of replacements) {
    let node = top as Record<string | number, unknown>;
    for (let i = 0; i < path.length - 1; i++) {
      const seg = path[i]!;
      let child = node[seg] as Record<string | number, unknown>;
      if (!copied.has(child)) {
        child = copy(child);
        node[seg] = child;
      }
      node = child;
    }
    node[path[path.length - 1]!] = value;
  }
  return top;
}
