import { describe, expect, test } from "bun:test";
import { prepare, upstreamHeaders } from "./index";

const target = prepare({ name: "up", url: "http://127.0.0.1:9/v1", key: "sk-upstream", models: ["m"], renamed: {}, provider: "openai", weight: 1, apiVersion: undefined, streamUsage: true }, "m");

describe("openai provider", () => {
  test("URLs per endpoint", () => {
    expect(target.urls["chat/completions"]).toBe("http://127.0.0.1:9/v1/chat/completions");
    expect(target.urls.embeddings).toBe("http://127.0.0.1:9/v1/embeddings");
  });

  test("upstream headers come from an allow-list, with the upstream key injected", () => {
    const client = new Headers({
      authorization: "Bearer client-key",
      "x-api-key": "client-key",
      connection: "keep-alive, x-secret",
      "keep-alive": "timeout=5",
      "transfer-encoding": "chunked",
      "content-length": "999",
      "proxy-authorization": "Basic x",
      cookie: "session=1",
      host: "evil.example",
      upgrade: "h2c",
      te: "trailers",
      accept: "text/event-stream",
      "openai-beta": "assistants=v2",
      "content-type": "text/plain",
    });
    expect(upstreamHeaders(target, client, "req_1")).toEqual({
      "content-type": "application/json",
      authorization: "Bearer sk-upstream",
      "x-request-id": "req_1",
      accept: "text/event-stream",
      "openai-beta": "assistants=v2",
    });
  });

  test("no upstream key, no authorization header", () => {
    const open = prepare({ name: "up", url: "http://h/v1", key: undefined, models: ["m"], renamed: {}, provider: "openai", weight: 1, apiVersion: undefined, streamUsage: true }, "m");
    expect(upstreamHeaders(open, new Headers({ authorization: "Bearer c" }), "r").authorization).toBeUndefined();
  });
});
