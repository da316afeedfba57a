import { beforeEach, describe, expect, test } from "bun:test";
import {
  clearTokenCaches,
  configureTokenCaches,
  countChatPromptTokens,
  countPromptTokens,
  countText,
  DEFAULT_LIMITS,
  tokenCacheStats,
} from "./index.ts";

type Message = { role: string; content: string };

/** A conversation as clients send it: every turn re-sends all earlier messages. */
function conversationTurns(turns: number, topic: string): { messages: Message[] }[] {
  const messages: Message[] = [{ role: "system", content: `You are an expert on ${topic}.` }];
  const bodies: { messages: Message[] }[] = [];
  for (let turn = 0; turn < turns; turn++) {
    messages.push({ role: "user", content: `Question ${turn} about ${topic}: why does it work that way?` });
    bodies.push({ messages: [...messages] });
    messages.push({ role: "assistant", content: `Answer ${turn}: because of ${topic} principle number ${turn * 7}.` });
  }
  return bodies;
}

beforeEach(() => {
  configureTokenCaches(DEFAULT_LIMITS);
});

describe("prompt counting per endpoint", () => {
  test("chat: 3 per message + role + content, + 3 for the reply", () => {
    const body = { messages: [{ role: "user", content: "hello world" }] };
    expect(countChatPromptTokens("gpt-4", body, "t")).toBe(3 + 1 + 2 + 3);
    expect(countPromptTokens("chat/completions", "gpt-4", body, "t")).toBe(9);
  });

  test("completions: strings, string arrays, token arrays and a suffix", () => {
    const model = "gpt-3.5-turbo-instruct";
    expect(countPromptTokens("completions", model, { prompt: "hello world" }, "t")).toBe(2);
    expect(countPromptTokens("completions", model, { prompt: ["hello world", "hello world"] }, "t")).toBe(4);
    expect(countPromptTokens("completions", model, { prompt: [9906, 1917, 0] }, "t")).toBe(3);
    expect(countPromptTokens("completions", model, { prompt: [[1, 2], [3, 4, 5]] }, "t")).toBe(5);
    expect(countPromptTokens("completions", model, { prompt: "hello", suffix: " world" }, "t")).toBe(2);
  });

  test("embeddings: input in every shape, no per-item overhead", () => {
    const model = "text-embedding-3-small";
    expect(countPromptTokens("embeddings", model, { input: "hello world" }, "t")).toBe(2);
    expect(countPromptTokens("embeddings", model, { input: ["hello world", "hello"] }, "t")).toBe(3);
    expect(countPromptTokens("embeddings", model, { input: [1, 2, 3, 4] }, "t")).toBe(4);
    expect(countPromptTokens("embeddings", model, {}, "t")).toBe(0);
  });

  test("countText uses the model's encoding", () => {
    expect(countText("gpt-4", "お誕生日おめでとう")).toBe(9);
    expect(countText("gpt-4o", "お誕生日おめでとう")).toBe(8);
    expect(countText("text-davinci-003", "お誕生日おめでとう")).toBe(14);
  });
});

describe("caches", () => {
  test("cached counts equal uncached counts, turn after turn", () => {
    const turns = conversationTurns(20, "tides");
    const cached = turns.map((body) => countChatPromptTokens("gpt-4o", body, "tenant-a"));
    const again = turns.map((body) => countChatPromptTokens("gpt-4o", body, "tenant-a"));
    const fresh = turns.map((body, i) => countChatPromptTokens("gpt-4o", body, `fresh-${i}`));
    expect(cached).toEqual(fresh);
    expect(again).toEqual(fresh);
  });

  test("each new turn encodes only the new messages (L1); a repeated request is one lookup (L0)", () => {
    const turns = conversationTurns(20, "tides");
    for (const body of turns) countChatPromptTokens("gpt-4o", body, "tenant-a");
    let stats = tokenCacheStats();
    // Turn n sends 2n messages; all but the newest user message were seen in turn n − 1
    // (the assistant reply is new too, from turn 2 on).
    expect(stats.itemMisses).toBe(2 + 2 * 19);
    expect(stats.requestHits).toBe(0);
    countChatPromptTokens("gpt-4o", turns[19]!, "tenant-a");
    stats = tokenCacheStats();
    expect(stats.requestHits).toBe(1);
    expect(stats.itemMisses).toBe(40);
  });

  test("the same text under another encoding is counted again, not taken from the cache", () => {
    const body = { messages: [{ role: "user", content: "お誕生日おめでとう" }] };
    expect(countChatPromptTokens("gpt-4", body, "t")).toBe(3 + 1 + 9 + 3);
    expect(countChatPromptTokens("gpt-4o", body, "t")).toBe(3 + 1 + 8 + 3);
  });

  test("tenants share nothing: another scope's identical request misses", () => {
    const body = conversationTurns(1, "ledgers")[0]!;
    countChatPromptTokens("gpt-4o", body, "tenant-a");
    countChatPromptTokens("gpt-4o", body, "tenant-a");
    const afterA = tokenCacheStats();
    countChatPromptTokens("gpt-4o", body, "tenant-b");
    const afterB = tokenCacheStats();
    expect(afterB.requestMisses - afterA.requestMisses).toBe(1);
    expect(afterB.itemMisses - afterA.itemMisses).toBe(2);
    expect(afterB.tenants).toBe(2);
  });

  test("one tenant's churn cannot evict another tenant's entries", () => {
    configureTokenCaches({ tenants: 8, requestsPerTenant: 16, itemsPerTenant: 16 });
    const quiet = conversationTurns(1, "quiet")[0]!;
    countChatPromptTokens("gpt-4o", quiet, "quiet-tenant");
    for (let i = 0; i < 500; i++) {
      countPromptTokens("embeddings", "text-embedding-3-small", { input: `noise ${i}` }, "noisy-tenant");
    }
    const before = tokenCacheStats().requestHits;
    countChatPromptTokens("gpt-4o", quiet, "quiet-tenant");
    expect(tokenCacheStats().requestHits - before).toBe(1);
  });

  test("entries stay within the configured bounds", () => {
    configureTokenCaches({ tenants: 4, requestsPerTenant: 8, itemsPerTenant: 32 });
    for (let tenant = 0; tenant < 20; tenant++) {
      for (let i = 0; i < 200; i++) {
        countPromptTokens("embeddings", "text-embedding-3-small", { input: [`a ${i}`, `b ${i}`] }, `tenant-${tenant}`);
      }
    }
    const stats = tokenCacheStats();
    expect(stats.tenants).toBeLessThanOrEqual(4);
    expect(stats.entries).toBeLessThanOrEqual(4 * (8 + 32));
    expect(stats.approxBytes).toBeLessThanOrEqual(stats.maxBytes);
  });

  test("limits must be sensible", () => {
    expect(() => configureTokenCaches({ tenants: 0 })).toThrow(RangeError);
    clearTokenCaches();
  });
});
