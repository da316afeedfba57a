/**
 * Replies in every supported format, with what they must parse into. Used by the tests (each
 * reply is also cut at every position) and kept apart from them so new cases are one line.
 */

import { CALL_BEGIN, CALL_END, CALLS_BEGIN, CALLS_END, TOOL_SEP } from "./tools/deepseek.ts";
import type { ParserOptions } from "./types.ts";

export interface Case {
  name: string;
  options: ParserOptions;
  text: string;
  content: string | null;
  reasoning: string | null;
  /** [name, arguments] or [name, arguments, id] of each call, in order. */
  calls?: readonly (readonly [string, string] | readonly [string, string, string])[];
}

const weather = '{"name": "get_weather", "arguments": {"city": "Paris"}}';
const R1 = { startsInside: true } as const;

export const REASONING_CASES: readonly Case[] = [
  { name: "block at the start", options: {}, text: "<think>Let me see.</think>The answer is 4.", content: "The answer is 4.", reasoning: "Let me see." },
  { name: "template newlines after the block", options: {}, text: "<think>\nhm, 2+2\n</think>\n\nIt is 4.", content: "It is 4.", reasoning: "\nhm, 2+2\n" },
  { name: "text before and after", options: {}, text: "Intro. <think>hidden</think> Outro.", content: "Intro.  Outro.", reasoning: "hidden" },
  { name: "starts inside, no opening tag (R1)", options: { reasoning: R1 }, text: "First, 2+2.\nSo 4.</think>\n\n**4**", content: "**4**", reasoning: "First, 2+2.\nSo 4." },
  { name: "starts inside, opening tag anyway", options: { reasoning: R1 }, text: "<think>\nok</think>Done", content: "Done", reasoning: "\nok" },
  { name: "block never closes", options: {}, text: "Hi<think>still going and", content: "Hi", reasoning: "still going and" },
  { name: "starts inside, never closes", options: { reasoning: R1 }, text: "all of it is thought", content: null, reasoning: "all of it is thought" },
  { name: "lookalikes stay content", options: {}, text: "<thinking about it> I </thinks> a <think", content: "<thinking about it> I </thinks> a <think", reasoning: null },
  { name: "a stray closing tag is content", options: {}, text: "a </think> b", content: "a </think> b", reasoning: null },
  { name: "non-ASCII", options: {}, text: "<think>思考中… 🤔 ½</think>答えは42です。🎉", content: "答えは42です。🎉", reasoning: "思考中… 🤔 ½" },
  { name: "two blocks", options: {}, text: "<think>a</think>x<think>b</think>y", content: "xy", reasoning: "ab" },
  { name: "reasoning off", options: { reasoning: false }, text: "<think>a</think>b", content: "<think>a</think>b", reasoning: null },
  {
    name: "custom tag pairs",
    options: { reasoning: { tags: [["<reasoning>", "</reasoning>"], ["◁think▷", "◁/think▷"]] } },
    text: "◁think▷k2 </reasoning> ◁/think▷mid<reasoning>r</reasoning>end",
    content: "midend",
    reasoning: "k2 </reasoning> r",
  },
  { name: "Magistral [THINK]", options: { reasoning: { tags: [["[THINK]", "[/THINK]"]] } }, text: "[THINK]x[/THINK]\n\ny [THINKING]", content: "y [THINKING]", reasoning: "x" },
  { name: "only whitespace", options: {}, text: " \n ", content: " \n ", reasoning: null },
];

const hermes = { toolCalls: "hermes" } as const;
export const HERMES_CASES: readonly Case[] = [
  { name: "text then a call", options: hermes, text: `Let me check.\n<tool_call>\n${weather}\n</tool_call>`, content: "Let me check.\n", reasoning: null, calls: [["get_weather", '{"city": "Paris"}']] },
  {
    name: "three calls in a row",
    options: hermes,
    text: `<tool_call>\n${weather}\n</tool_call>\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>\n<tool_call>{"name":"x","arguments":{"a":[1,{"b":null}]}}</tool_call>\n`,
    content: null,
    reasoning: null,
    calls: [["get_weather", '{"city": "Paris"}'], ["get_time", "{}"], ["x", '{"a":[1,{"b":null}]}']],
  },
  { name: "Qwen3: think, then a call", options: hermes, text: `<think>\nNeed the weather.\n</think>\n\n<tool_call>\n${weather}\n</tool_call>`, content: null, reasoning: "\nNeed the weather.\n", calls: [["get_weather", '{"city": "Paris"}']] },
  { name: "malformed JSON is content", options: hermes, text: 'A <tool_call>\n{"name": "x", "arguments": {"a": }\n</tool_call> B', content: 'A <tool_call>\n{"name": "x", "arguments": {"a": }\n</tool_call> B', reasoning: null },
  { name: "JSON without a name is content", options: hermes, text: '<tool_call>{"arguments": {}}</tool_call>', content: '<tool_call>{"arguments": {}}</tool_call>', reasoning: null },
  { name: "text after a call", options: hermes, text: `<tool_call>${weather}</tool_call>\nDone.`, content: "\nDone.", reasoning: null, calls: [["get_weather", '{"city": "Paris"}']] },
  { name: "unclosed block with whole JSON", options: hermes, text: `<tool_call>\n${weather}\n`, content: null, reasoning: null, calls: [["get_weather", '{"city": "Paris"}']] },
  { name: "unclosed block, cut JSON", options: hermes, text: 'ok <tool_call>{"name": "get_weather", "argu', content: 'ok <tool_call>{"name": "get_weather", "argu', reasoning: null },
  { name: "lookalikes", options: hermes, text: "<tool_calls> are not <tool_call/> nor </tool_call> <tool", content: "<tool_calls> are not <tool_call/> nor </tool_call> <tool", reasoning: null },
  { name: "calls inside reasoning are reasoning", options: hermes, text: `<think>maybe <tool_call>${weather}</tool_call></think>No.`, content: "No.", reasoning: `maybe <tool_call>${weather}</tool_call>` },
  {
    name: "<think> inside the arguments",
    options: hermes,
    text: '<tool_call>{"name": "write", "arguments": {"text": "<think>x</think> and <tool_call>"}}</tool_call>',
    content: null,
    reasoning: null,
    calls: [["write", '{"text": "<think>x</think> and <tool_call>"}']],
  },
  { name: "non-ASCII arguments", options: hermes, text: 'Voilà 👍<tool_call>{"name": "go", "arguments": {"to": "Zürich → 東京 🗼"}}</tool_call>', content: "Voilà 👍", reasoning: null, calls: [["go", '{"to": "Zürich → 東京 🗼"}']] },
  { name: "big integers kept exactly", options: hermes, text: '<tool_call>{"name": "f", "arguments": {"id": 12345678901234567890, "x": 1.50}}</tool_call>', content: null, reasoning: null, calls: [["f", '{"id": 12345678901234567890, "x": 1.50}']] },
  { name: "arguments given as a string", options: hermes, text: '<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>', content: null, reasoning: null, calls: [["f", '{"a": 1}']] },
  { name: "leading whitespace before a call", options: hermes, text: `\n\n<tool_call>${weather}</tool_call>\n\n`, content: null, reasoning: null, calls: [["get_weather", '{"city": "Paris"}']] },
  {
    name: "an array of calls in one block",
    options: hermes,
    text: '<tool_call>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"k": "v"}}]</tool_call>',
    content: null,
    reasoning: null,
    calls: [["a", "{}"], ["b", '{"k": "v"}']],
  },
  { name: "R1-style template with Hermes calls", options: { ...hermes, reasoning: R1 }, text: `plan</think>\n\n<tool_call>${weather}</tool_call>`, content: null, reasoning: "plan", calls: [["get_weather", '{"city": "Paris"}']] },
  { name: "good call, bad call", options: hermes, text: `<tool_call>${weather}</tool_call>\n<tool_call>{oops}</tool_call>`, content: "\n<tool_call>{oops}</tool_call>", reasoning: null, calls: [["get_weather", '{"city": "Paris"}']] },
];

const llama3 = { toolCalls: "llama3" } as const;
export const LLAMA3_CASES: readonly Case[] = [
  { name: "a call", options: llama3, text: '{"name": "get_weather", "parameters": {"city": "Paris"}}', content: null, reasoning: null, calls: [["get_weather", '{"city": "Paris"}']] },
  { name: "after <|python_tag|>", options: llama3, text: '<|python_tag|>{"name": "f", "parameters": {"q": "x"}}', content: null, reasoning: null, calls: [["f", '{"q": "x"}']] },
  {
    name: "calls separated by ;",
    options: llama3,
    text: '{"name": "a", "parameters": {}}; {"name": "b", "parameters": {"x": [1, 2]}};{"type": "function", "name": "c", "arguments": {"s": "}{\\"]"}}',
    content: null,
    reasoning: null,
    calls: [["a", "{}"], ["b", '{"x": [1, 2]}'], ["c", '{"s": "}{\\"]"}']],
  },
  { name: "leading whitespace", options: llama3, text: '\n\n {"name": "a", "parameters": {}}\n', content: null, reasoning: null, calls: [["a", "{}"]] },
  { name: "a JSON answer is content", options: llama3, text: '{"answer": 42, "name": "x", "parameters": {}}', content: '{"answer": 42, "name": "x", "parameters": {}}', reasoning: null },
  { name: "an empty object is content", options: llama3, text: "{} and more", content: "{} and more", reasoning: null },
  { name: "parameters not an object", options: llama3, text: '{"name": "a", "parameters": 5}', content: '{"name": "a", "parameters": 5}', reasoning: null },
  { name: "malformed JSON", options: llama3, text: '{"name": "a", "parameters": {"x": }} tail', content: '{"name": "a", "parameters": {"x": }} tail', reasoning: null },
  { name: "plain prose", options: llama3, text: "The weather is nice { really }.", content: "The weather is nice { really }.", reasoning: null },
  { name: "JSON after prose stays content", options: llama3, text: 'Sure: {"name": "a", "parameters": {}}', content: 'Sure: {"name": "a", "parameters": {}}', reasoning: null },
  { name: "built-in tool code after the tag", options: llama3, text: '<|python_tag|>brave_search.call(query="Paris")', content: '<|python_tag|>brave_search.call(query="Paris")', reasoning: null },
  { name: "text after the call", options: llama3, text: '{"name": "a", "parameters": {}} Done.', content: " Done.", reasoning: null, calls: [["a", "{}"]] },
  { name: "think, then a call", options: llama3, text: '<think>hm</think>\n\n{"name": "a", "parameters": {"n": "ü"}}', content: null, reasoning: "hm", calls: [["a", '{"n": "ü"}']] },
  { name: "unclosed object", options: llama3, text: '{"name": "a", "parameters": {"x": 1}', content: '{"name": "a", "parameters": {"x": 1}', reasoning: null },
  { name: "lookalike tag", options: llama3, text: "<|python_ta and <|python", content: "<|python_ta and <|python", reasoning: null },
  { name: "<think> inside parameters", options: llama3, text: '{"name": "a", "parameters": {"t": "<think>"}}', content: null, reasoning: null, calls: [["a", '{"t": "<think>"}']] },
];

const mistral = { toolCalls: "mistral" } as const;
export const MISTRAL_CASES: readonly Case[] = [
  { name: "v3 array", options: mistral, text: `[TOOL_CALLS][${weather}]`, content: null, reasoning: null, calls: [["get_weather", '{"city": "Paris"}']] },
  {
    name: "v3 array with ids, after a space",
    options: mistral,
    text: '[TOOL_CALLS] [{"name": "a", "arguments": {"x": 1}, "id": "abc123def"}, {"name": "b", "arguments": {}, "id": "ZZZ999yyy"}]',
    content: null,
    reasoning: null,
    calls: [["a", '{"x": 1}', "abc123def"], ["b", "{}", "ZZZ999yyy"]],
  },
  { name: "v11 call", options: mistral, text: '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', content: null, reasoning: null, calls: [["get_weather", '{"city": "Paris"}']] },
  {
    name: "v11 calls with [CALL_ID]",
    options: mistral,
    text: '[TOOL_CALLS]a[CALL_ID]k1l2m3n4o[ARGS]{"x": "}"}\n[TOOL_CALLS]b[ARGS]{}',
    content: null,
    reasoning: null,
    calls: [["a", '{"x": "}"}', "k1l2m3n4o"], ["b", "{}"]],
  },
  { name: "v11 with control tokens skipped", options: mistral, text: 'Sure.[TOOL_CALLS]get_weather{"city": "Paris"}', content: "Sure.", reasoning: null, calls: [["get_weather", '{"city": "Paris"}']] },
  { name: "prose lookalikes", options: mistral, text: "A [TOOL] or [TOOL_CALLS] is a token; [TOOL", content: "A [TOOL] or [TOOL_CALLS] is a token; [TOOL", reasoning: null },
  { name: "malformed array", options: mistral, text: '[TOOL_CALLS][{"name": "a", "arguments": {]}] x', content: '[TOOL_CALLS][{"name": "a", "arguments": {]}] x', reasoning: null },
  { name: "Magistral: [THINK] then a call", options: { ...mistral, reasoning: { tags: [["[THINK]", "[/THINK]"]] } }, text: '[THINK]use a tool[/THINK][TOOL_CALLS]f[ARGS]{"q": "é"}', content: null, reasoning: "use a tool", calls: [["f", '{"q": "é"}']] },
  { name: "text after a v11 call", options: mistral, text: "[TOOL_CALLS]a[ARGS]{}\nDone", content: "\nDone", reasoning: null, calls: [["a", "{}"]] },
  { name: "bad id is content", options: mistral, text: "[TOOL_CALLS]a[CALL_ID]no way[ARGS]{}", content: "[TOOL_CALLS]a[CALL_ID]no way[ARGS]{}", reasoning: null },
];

const deepseek = { toolCalls: "deepseek" } as const;
const v3Call = (name: string, args: string) => `${CALL_BEGIN}function${TOOL_SEP}${name}\n\`\`\`json\n${args}\n\`\`\`${CALL_END}`;
export const DEEPSEEK_CASES: readonly Case[] = [
  { name: "V3 call after text", options: deepseek, text: `Checking.${CALLS_BEGIN}${v3Call("get_weather", '{"city": "Paris"}')}${CALLS_END}`, content: "Checking.", reasoning: null, calls: [["get_weather", '{"city": "Paris"}']] },
  {
    name: "V3 two calls",
    options: deepseek,
    text: `${CALLS_BEGIN}${v3Call("a", '{"x": 1}')}\n${v3Call("b", '{\n  "y": "```"\n}')}${CALLS_END}`,
    content: null,
    reasoning: null,
    calls: [["a", '{"x": 1}'], ["b", '{\n  "y": "```"\n}']],
  },
  { name: "V3.1 call", options: deepseek, text: `${CALLS_BEGIN}${CALL_BEGIN}get_weather${TOOL_SEP}{"city": "東京"}${CALL_END}${CALLS_END}`, content: null, reasoning: null, calls: [["get_weather", '{"city": "東京"}']] },
  { name: "R1: reasoning, then calls", options: { ...deepseek, reasoning: R1 }, text: `I should call it.\n</think>\n\n${CALLS_BEGIN}${v3Call("f", "{}")}${CALLS_END}`, content: null, reasoning: "I should call it.\n", calls: [["f", "{}"]] },
  { name: "malformed call is content", options: deepseek, text: `x${CALLS_BEGIN}${v3Call("f", "{nope")}${CALLS_END}y`, content: `x${CALLS_BEGIN}${v3Call("f", "{nope")}${CALLS_END}y`, reasoning: null },
  { name: "empty region is content", options: deepseek, text: `${CALLS_BEGIN} ${CALLS_END}`, content: `${CALLS_BEGIN} ${CALLS_END}`, reasoning: null },
  { name: "a call without the region", options: deepseek, text: `${CALL_BEGIN}f${TOOL_SEP}{"a": 1}${CALL_END} ok`, content: " ok", reasoning: null, calls: [["f", '{"a": 1}']] },
  { name: "lookalikes", options: deepseek, text: "<｜tool and <｜tool▁calls and <|tool▁calls▁begin|>", content: "<｜tool and <｜tool▁calls and <|tool▁calls▁begin|>", reasoning: null },
  {
    name: "one good call, one bad",
    options: deepseek,
    text: `${CALLS_BEGIN}${v3Call("a", "{}")}${CALL_BEGIN}oops${CALL_END}${CALLS_END}`,
    content: `${CALL_BEGIN}oops${CALL_END}`,
    reasoning: null,
    calls: [["a", "{}"]],
  },
  { name: "region cut off after a call", options: deepseek, text: `${CALLS_BEGIN}${v3Call("a", "{}")}\n`, content: null, reasoning: null, calls: [["a", "{}"]] },
];

export const NONE_CASES: readonly Case[] = [
  { name: "tool markup without a format is content", options: {}, text: `<tool_call>${weather}</tool_call>[TOOL_CALLS]`, content: `<tool_call>${weather}</tool_call>[TOOL_CALLS]`, reasoning: null },
];

export const ALL_CASES: readonly (readonly [string, readonly Case[]])[] = [
  ["reasoning", REASONING_CASES],
  ["hermes", HERMES_CASES],
  ["llama3", LLAMA3_CASES],
  ["mistral", MISTRAL_CASES],
  ["deepseek", DEEPSEEK_CASES],
  ["none", NONE_CASES],
];
