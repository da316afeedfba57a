/**
 * End to end: routing in the compiled binary, started alone from an empty directory, in front of
 * two mock upstreams running as processes of their own (so one can be killed for real), driven
 * by the official `openai` SDK.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { resolve } from "node:path";
import { startWarden, type Running } from "./binary";

const MOCK = resolve(import.meta.dir, "../../bench/mock-upstream.ts");
const MASTER = "e2e-routing-master-0123456789";

interface MockProcess {
  url: string;
  proc: Bun.Subprocess;
}

/** `bun bench/mock-upstream.ts` as a process of its own, once it says where it listens. */
async function mockProcess(): Promise<MockProcess> {
  const proc = Bun.spawn([process.execPath, MOCK, "--port", "0", "--no-record"], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!/listening on (\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`mock upstream exited: ${out}`);
    out += new TextDecoder().decode(value);
  }
  return { url: /listening on (\S+)/.exec(out)![1], proc };
}

let a: MockProcess;
let b: MockProcess;
let warden: Running;
let client: OpenAI;

beforeAll(async () => {
  [a, b] = await Promise.all([mockProcess(), mockProcess()]);
  warden = await startWarden({
    WARDEN_MASTER_KEY: MASTER,
    WARDEN_UPSTREAM_A_URL: a.url,
    WARDEN_UPSTREAM_A_MODELS: "mock-gpt,primary=mock-gpt,qwen=mock-gpt",
    WARDEN_UPSTREAM_B_URL: b.url,
    WARDEN_UPSTREAM_B_MODELS: "mock-gpt,backup=mock-gpt-mini",
    WARDEN_UPSTREAM_AZ_URL: b.url.replace(/\/v1$/, "/openai"),
    WARDEN_UPSTREAM_AZ_PROVIDER: "azure",
    WARDEN_UPSTREAM_AZ_KEY: "az-e2e",
    WARDEN_UPSTREAM_AZ_MODELS: "gpt-4o=gpt4o-prod",
    WARDEN_MODEL_P_NAME: "primary",
    WARDEN_MODEL_P_FALLBACKS: "backup",
    WARDEN_MODEL_Q_NAME: "qwen",
    WARDEN_MODEL_Q_PARSER: "hermes",
    WARDEN_COOLDOWN_MS: "60000",
  });
  client = new OpenAI({ baseURL: `${warden.url}/v1`, apiKey: MASTER, maxRetries: 0 });
});
afterAll(async () => {
  await warden?.stop();
  for (const m of [a, b]) m?.proc.kill("SIGKILL");
});

async function metric(prefix: string): Promise<number | undefined> {
  const text = await (await fetch(`${warden.url}/metrics`, { headers: { authorization: `Bearer ${MASTER}` } })).text();
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("through the binary", () => {
  test("a Hermes-style open model's text becomes reasoning_content and tool_calls", async () => {
    const text = '<think>Needs a lookup.</think><tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>';
    // `mock` is the mock upstream's per-request behaviour; Warden forwards unknown fields as they are.
    const res = await client.chat.completions.create({ model: "qwen", messages: [{ role: "user", content: "weather in Oslo?" }], mock: { text } } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const message = res.choices[0].message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    expect(message.reasoning_content).toBe("Needs a lookup.");
    expect(message.tool_calls?.[0]).toMatchObject({ type: "function", function: { name: "get_weather", arguments: '{"city": "Oslo"}' } });
    expect(res.choices[0].finish_reason).toBe("tool_calls");
  });

  test("Azure OpenAI: the model's deployment answers", async () => {
    const res = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(res.model).toBe("gpt4o-prod"); // the mock names its reply after the deployment in the URL
  });

  test("an upstream killed under load: no client sees an error, and it leaves the rotation", async () => {
    let done = 0;
    let killed = false;
    const statuses = new Map<number, number>();
    let retried = 0;
    const worker = async () => {
      while (done < 400) {
        const res = await fetch(`${warden.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}` },
          body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "hi" }] }),
        });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.headers.get("x-warden-attempts") !== null) retried++;
        if (++done === 100 && !killed) {
          killed = true;
          a.proc.kill("SIGKILL");
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(Object.fromEntries(statuses)).toEqual({ 200: done });
    expect(retried).toBeGreaterThan(0); // some requests met the dead upstream, and were retried
    expect(await metric('warden_upstream_available{upstream="a",model="mock-gpt"}')).toBe(0);
    expect(await metric('warden_upstream_cooldowns_total{upstream="a",model="mock-gpt"}')).toBeGreaterThanOrEqual(1);
  });

  test("with its only upstream gone, a model falls back to another one", async () => {
    const res = await client.chat.completions.create({ model: "primary", messages: [{ role: "user", content: "hi" }] });
    expect(res.model).toBe("mock-gpt-mini");
    expect(await metric('warden_fallbacks_total{from="primary",to="backup",reason="error"}')).toBe(1);
  });
});
