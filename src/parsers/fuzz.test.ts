// Random replies stitched from markup fragments, in every format: however a reply is cut, the
// merged result must equal the result for the whole reply, and a reply that made no call must
// come out as it went in. Seeded, so a failure can be replayed.
import { expect, test } from "bun:test";
import { cutAt, randomCuttings, runPieces, seededRandom } from "./test-support.ts";
import { CALL_BEGIN, CALL_END, CALLS_BEGIN, CALLS_END, TOOL_SEP } from "./tools/deepseek.ts";
import type { ParserOptions, ToolCallFormat } from "./types.ts";

const COMMON = ["<think>", "</think>", "<thi", "</th", "<", ">", " ", "\n", "\n\n", "a", "é", "🚀", "東", "{", "}", "[", "]", '"', "\\", ";", ",", ":", "```"];
const CALL_JSON = ['{"name": "f", "arguments": {"a": 1}}', '{"name": "g", "parameters": {}}', '{"x": 1}', '"name"', "{}"];
// A well-formed call, weighted so that replies often hold one or two.
const whole = (call: string) => [call, call, call, call, call, call];
const FRAGMENTS: Record<ToolCallFormat, string[]> = {
  hermes: [...COMMON, ...CALL_JSON, "<tool_call>", "</tool_call>", "<tool_c", "</tool_", ...whole(`<tool_call>${CALL_JSON[0]}</tool_call>`)],
  llama3: [...COMMON, ...CALL_JSON, "<|python_tag|>", "<|python", ...whole('{"name": "h", "parameters": {"q": "<think>"}}'), ...whole(CALL_JSON[1])],
  mistral: [...COMMON, ...CALL_JSON, "[TOOL_CALLS]", "[TOOL_", "[ARGS]", "[CALL_ID]", "abc123def", ...whole('[TOOL_CALLS]f[ARGS]{"a": "]"}'), ...whole('[TOOL_CALLS][{"name": "m", "arguments": {}}]')],
  deepseek: [...COMMON, ...CALL_JSON, CALLS_BEGIN, CALLS_END, CALL_BEGIN, CALL_END, TOOL_SEP, "function", "<｜tool▁", ...whole(`${CALL_BEGIN}function${TOOL_SEP}f\n\`\`\`json\n{}\n\`\`\`${CALL_END}`), ...whole(`${CALL_BEGIN}g${TOOL_SEP}{"b": 2}${CALL_END}`)],
  none: COMMON,
};

function randomReply(random: () => number, fragments: string[]): string {
  const n = 1 + Math.floor(random() * 14);
  let s = "";
  for (let i = 0; i < n; i++) s += fragments[Math.floor(random() * fragments.length)];
  return s;
}

const VARIANTS: ParserOptions[] = [{}, { reasoning: { startsInside: true } }, { reasoning: false }];

for (const format of Object.keys(FRAGMENTS) as ToolCallFormat[]) {
  test(`${format}: random replies parse the same whole and cut`, () => {
    const random = seededRandom(format.length * 1000003);
    let calls = 0;
    for (let k = 0; k < 400; k++) {
      const text = randomReply(random, FRAGMENTS[format]);
      const options: ParserOptions = { ...VARIANTS[k % VARIANTS.length], toolCalls: format };
      const whole = runPieces([text], options).merged;
      calls += whole.tool_calls.length;
      // Never lose text: with reasoning off, a reply that made no call is all content, as written.
      if (options.reasoning === false && whole.tool_calls.length === 0) expect(whole.content).toBe(text);
      const cuttings = [...randomCuttings(text, 8, k, 5), Array.from({ length: Math.max(0, text.length - 1) }, (_, i) => i + 1)];
      for (const cuts of cuttings) {
        const merged = runPieces(cutAt(text, cuts), options).merged;
        if (!Bun.deepEquals(merged, whole)) expect({ text, options, cuts, merged }).toEqual({ text, options, cuts, merged: whole });
      }
    }
    // The fragments do make calls now and then, so the cut runs compare more than text.
    if (format !== "none") expect(calls).toBeGreaterThan(50);
  });
}
