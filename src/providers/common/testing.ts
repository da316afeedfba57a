/**
 * Test helpers shared by the provider tests: read an OpenAI chunk stream the way a client does,
 * check its framing, and fold its deltas into the message a non-streamed reply would carry.
 */
import type { OpenAIChunk, OpenAIFinishReason, OpenAIToolCall, OpenAIUsage } from "./openai-wire";

export interface ParsedOpenAIStream {
  chunks: OpenAIChunk[];
  /** SSE comments between events (keep-alives, translated pings), which clients ignore. */
  comments: string[];
  /** The stream ended with `data: [DONE]`. */
  done: boolean;
  /** The payload of a `data: {"error":...}` event, if the stream failed. */
  error?: { message: string; type: string; code: string | null };
}

/** Splits OpenAI SSE text into its events; throws unless each is a comment, `data: <json>`, or a final `data: [DONE]`. */
export function parseOpenAIStream(sse: string): ParsedOpenAIStream {
  const out: ParsedOpenAIStream = { chunks: [], comments: [], done: false };
  const events = sse.split("\n\n");
  if (events.at(-1) !== "") throw new Error(`stream does not end at an event boundary: ${JSON.stringify(sse.slice(-40))}`);
  events.pop();
  for (const e of events) {
    if (out.done || out.error) throw new Error(`event after the end of the stream: ${e}`);
    if (e.startsWith(":") && !e.includes("\n")) {
      out.comments.push(e.slice(1));
      continue;
    }
    if (!e.startsWith("data: ") || e.includes("\n")) throw new Error(`not a single data line: ${JSON.stringify(e)}`);
    const data = e.slice(6);
    if (data === "[DONE]") {
      out.done = true;
      continue;
    }
    const json = JSON.parse(data);
    if (json.error !== undefined) out.error = json.error;
    else {
      if (json.object !== "chat.completion.chunk") throw new Error(`not a chunk: ${data}`);
      out.chunks.push(json);
    }
  }
  return out;
}

export interface MergedChoice {
  role?: string;
  content: string | null;
  reasoning_content?: string;
  tool_calls?: OpenAIToolCall[];
  finish_reason: OpenAIFinishReason | null;
}

/** Folds deltas per choice as an OpenAI client would; `usage` is the include_usage chunk's. */
export function mergeChunks(chunks: OpenAIChunk[]): { choices: MergedChoice[]; usage?: OpenAIUsage; ids: Set<string> } {
  const choices: MergedChoice[] = [];
  let usage: OpenAIUsage | undefined;
  const ids = new Set<string>();
  for (const c of chunks) {
    ids.add(c.id);
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      const m = (choices[ch.index] ??= { content: null, finish_reason: null });
      const d = ch.delta;
      if (d.role) m.role = d.role;
      if (typeof d.content === "string") m.content = (m.content ?? "") + d.content;
      if (typeof d.reasoning_content === "string") m.reasoning_content = (m.reasoning_content ?? "") + d.reasoning_content;
      for (const t of d.tool_calls ?? []) {
        const calls = (m.tool_calls ??= []);
        const call = (calls[t.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
        if (t.id) call.id = t.id;
        if (t.function?.name) call.function.name += t.function.name;
        if (t.function?.arguments) call.function.arguments += t.function.arguments;
      }
      if (ch.finish_reason) m.finish_reason = ch.finish_reason;
    }
  }
  // A streamed reply starts content at "" even when it is only tool calls; non-streamed says null.
  for (const m of choices) if (m.content === "" && m.tool_calls) m.content = null;
  return { choices, usage, ids };
}

/** Every way of cutting `bytes` into two pieces, plus byte by byte. */
export function* splitsOf(bytes: Uint8Array): Generator<Uint8Array[]> {
  for (let i = 0; i <= bytes.length; i++) yield [bytes.subarray(0, i), bytes.subarray(i)];
  yield Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

/** Reads a fetch body to the end as text; a broken connection is returned, not thrown. */
export async function readAll(res: Response, onChunk?: (c: Uint8Array) => void): Promise<{ text: string; error: unknown }> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text: text + dec.decode(), error: null };
      onChunk?.(value);
      text += dec.decode(value, { stream: true });
    }
  } catch (error) {
    return { text, error };
  }
}
