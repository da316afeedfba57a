import { describe, expect, test } from "bun:test";
import { GatewayError } from "../errors";
import { guardRequest, readBody, rewrittenTarget } from "./index";
import { pathProblem, pathStart } from "./target";

const LIMITS = { maxHeaderBytes: 16 * 1024 };
const URL = "http://127.0.0.1:8080/v1/chat/completions";

function post(headers: Record<string, string> | [string, string][] = {}, url = URL): Request {
  return new Request(url, { method: "POST", headers, body: "{}" });
}

/**
 * How Bun presents what `new Request` cannot express: a relative URL (no usable Host) or a raw
 * target a future Bun might stop normalising. guardRequest reads only `url` and `headers`.
 */
function asBunWouldPresent(url: string, headers: Record<string, string> = {}): Request {
  return { url, headers: new Headers(headers) } as Request;
}

/** The GatewayError guardRequest throws, or undefined when it lets the request through. */
function refusal(request: Request, limits = LIMITS): GatewayError | undefined {
  try {
    guardRequest(request, limits);
    return undefined;
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
}

describe("guardRequest lets ordinary requests through", () => {
  test.each([
    ["Content-Length body with a matching Host", post({ host: "127.0.0.1:8080", "content-type": "application/json", "content-length": "2" })],
    ["chunked body", post({ host: "127.0.0.1:8080", "transfer-encoding": "chunked" })],
    ["no Host at all (built in-process)", post({ "content-length": "2" })],
    ["Host in upper case (Bun lower-cases the URL)", post({ host: "LocalHost" }, "http://localhost/v1/chat/completions")],
    ["Host with the default port (Bun drops it from the URL)", post({ host: "localhost:80" }, "http://localhost/v1/chat/completions")],
    ["IPv6 Host with the default port", post({ host: "[::1]:80" }, "http://[::1]/v1/chat/completions")],
    ["tab inside a value", post({ "x-note": "a\tb" })],
    ["encoded slash in the query", post({}, `${URL}?after=a%2Fb&x=..%2e`)],
    ["encoded slash inside a model id", new Request("http://localhost/v1/models/meta-llama%2FLlama-3.1-8B")],
    ["dots inside segments", new Request("http://localhost/v1/models/llama-3.1.x/.well/..known")],
    ["other escapes in the path", new Request("http://localhost/v1/models/a%20b%41")],
  ])("%s", (_, request) => {
    expect(refusal(request)).toBeUndefined();
  });
});

describe("guardRequest refuses what is ambiguous", () => {
  test.each([
    // Bun merges a repeated Host into "a, b" instead of refusing it.
    ["duplicate Host", post({ host: "a, b" }, "http://a/v1/chat/completions"), "ambiguous_host"],
    ["Host disagreeing with the URL", post({ host: "other.example" }, "http://a/v1/chat/completions"), "ambiguous_host"],
    ["Host with a different port", post({ host: "a:8081" }, "http://a:8080/v1/chat/completions"), "ambiguous_host"],
    // Bun makes request.url relative when Host is missing (HTTP/1.0) or not a valid authority.
    ["no usable Host (relative URL)", asBunWouldPresent("/v1/chat/completions"), "invalid_host"],
    ["DEL in a value", post({ "x-note": "a\x7fb" }), "invalid_header"],
    ["C0 control in a value", post({ "user-agent": "a\x01b" }), "invalid_header"],
    ["escape character in a value", post({ authorization: "Bearer \x1b[2J" }), "invalid_header"],
    ["encoded slash %2f", post({}, "http://a/v1%2fchat/completions"), "invalid_path"],
    ["encoded slash %2F", post({}, "http://a/v1%2Fchat/completions"), "invalid_path"],
    ["encoded backslash %5c", post({}, "http://a/v1%5cchat/completions"), "invalid_path"],
    ["encoded backslash %5C in a model id", new Request("http://a/v1/models/x%5Cy"), "invalid_path"],
    ["encoded NUL", post({}, "http://a/v1/chat/completions%00"), "invalid_path"],
    ["encoded dot %2e", post({}, "http://a/v1/x%2e/chat/completions"), "invalid_path"],
    ["encoded dot segment (raw, as a future Bun might keep it)", asBunWouldPresent("http://a/v1/%2e%2e/chat/completions"), "invalid_path"],
    ["encoded dot %2E mid-segment", post({}, "http://a/v1/chat%2Ecompletions"), "invalid_path"],
    ["fragment", post({}, "http://a/v1/chat/completions#x"), "invalid_path"],
    ["fragment after the query", post({}, "http://a/v1/chat/completions?a=1#x"), "invalid_path"],
    ["raw dot-dot segment", asBunWouldPresent("http://a/v1/x/../chat/completions"), "invalid_path"],
    ["raw dot segment", asBunWouldPresent("http://a/v1/./chat/completions"), "invalid_path"],
    ["raw dot-dot at the end", asBunWouldPresent("http://a/v1/chat/completions/.."), "invalid_path"],
    ["raw dot-dot before the query", asBunWouldPresent("http://a/v1/..?x=1"), "invalid_path"],
    ["raw backslash", asBunWouldPresent("http://a/v1\\chat/completions"), "invalid_path"],
    ["Transfer-Encoding in capitals", post({ "transfer-encoding": "CHUNKED" }), "invalid_transfer_encoding"],
    ["Transfer-Encoding repeated (merged)", post({ "transfer-encoding": "chunked, chunked" }), "invalid_transfer_encoding"],
    ["Transfer-Encoding gzip, chunked", post({ "transfer-encoding": "gzip, chunked" }), "invalid_transfer_encoding"],
    ["Transfer-Encoding xchunked", post({ "transfer-encoding": "xchunked" }), "invalid_transfer_encoding"],
    ["Transfer-Encoding identity", post({ "transfer-encoding": "identity" }), "invalid_transfer_encoding"],
    ["Content-Length with Transfer-Encoding", post({ "content-length": "2", "transfer-encoding": "chunked" }), "invalid_transfer_encoding"],
    ["Content-Length repeated (merged)", post([["content-length", "2"], ["content-length", "2"]]), "invalid_content_length"],
    ["negative Content-Length", post({ "content-length": "-1" }), "invalid_content_length"],
    ["signed Content-Length", post({ "content-length": "+2" }), "invalid_content_length"],
    ["hex Content-Length", post({ "content-length": "0x2" }), "invalid_content_length"],
  ])("%s", (_, request, code) => {
    const e = refusal(request);
    expect(e?.code).toBe(code);
    expect(e?.status).toBe(400);
  });
});

describe("guardRequest bounds the head", () => {
  const head = (filler: number) => post({ host: "a", "x-filler": "x".repeat(filler) }, "http://a/v1/chat/completions");
  // The URL, plus name + value + 4 (": " and CRLF) per header: host and x-filler.
  const fixed = "http://a/v1/chat/completions".length + ("host".length + 1 + 4) + ("x-filler".length + 4);

  test("a head exactly at the limit passes, one byte more is 431", () => {
    const limits = { maxHeaderBytes: 1024 };
    expect(refusal(head(1024 - fixed), limits)).toBeUndefined();
    const e = refusal(head(1024 - fixed + 1), limits);
    expect(e?.status).toBe(431);
    expect(e?.code).toBe("headers_too_large");
  });

  test("the URL counts towards the limit", () => {
    const e = refusal(post({}, `http://a/v1/chat/completions?q=${"a".repeat(2000)}`), { maxHeaderBytes: 1024 });
    expect(e?.status).toBe(431);
  });
});

describe("every guard refusal", () => {
  test("is OpenAI-shaped, staged as guard, and closes the connection", async () => {
    const e = refusal(post({ host: "a, b" }, "http://a/v1/chat/completions"))!;
    expect(e.stage).toBe("guard");
    const res = e.toResponse();
    expect(res.status).toBe(400);
    expect(res.headers.get("connection")).toBe("close");
    expect(await res.json()).toEqual({
      error: { message: "The request has more than one Host header.", type: "invalid_request_error", param: null, code: "ambiguous_host" },
    });
  });

  test("the refusal for a target Bun rewrote is invalid_path and closes", () => {
    const res = rewrittenTarget().toResponse();
    expect(res.status).toBe(400);
    expect(res.headers.get("connection")).toBe("close");
  });

  test("431 closes the connection too", () => {
    const e = refusal(post({ "x-filler": "x".repeat(2000) }), { maxHeaderBytes: 1024 })!;
    expect(e.toResponse().headers.get("connection")).toBe("close");
  });
});

describe("target helpers", () => {
  test("pathStart finds the path after the authority, or -1 for a relative URL", () => {
    expect(pathStart("http://a:8080/v1/models")).toBe(13);
    expect(pathStart("https://a/v1")).toBe(9);
    expect(pathStart("http://a")).toBe(8);
    expect(pathStart("/v1/models")).toBe(-1);
    expect(pathStart("other:443")).toBe(-1); // CONNECT's authority-form, as Bun presents it
  });

  test("pathProblem ignores look-alikes that are not dot segments", () => {
    for (const url of ["http://a/.well-known", "http://a/v1/..x", "http://a/v1/x..", "http://a/%2", "http://a/%"]) {
      expect(pathProblem(url, 8)).toBeUndefined();
    }
  });
});

function streamed(parts: Uint8Array[], onPull?: () => void, failAt = -1, signal?: AbortSignal): Request {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      onPull?.();
      if (i === failAt) c.error(new Error("The connection was closed."));
      else if (i < parts.length) c.enqueue(parts[i++]);
      else c.close();
    },
  });
  return new Request("http://x/v1/chat/completions", { method: "POST", body, signal });
}

describe("readBody", () => {
  test("returns the whole body across chunks", async () => {
    const body = await readBody(streamed([new Uint8Array([1, 2]), new Uint8Array([3])]), 10);
    expect([...body]).toEqual([1, 2, 3]);
  });

  test("refuses a declared Content-Length over the cap before reading, and closes", async () => {
    const req = new Request("http://x/", { method: "POST", body: "x".repeat(20), headers: { "content-length": "20" } });
    const err = await readBody(req, 10).catch((e) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.status).toBe(413);
    expect(err.code).toBe("request_too_large");
    expect(err.toResponse().headers.get("connection")).toBe("close");
  });

  test("stops reading a streamed body as soon as it passes the cap", async () => {
    let pulls = 0;
    const parts = Array.from({ length: 100 }, () => new Uint8Array(8));
    const err = await readBody(streamed(parts, () => pulls++), 20).catch((e) => e);
    expect(err.status).toBe(413);
    expect(pulls).toBeLessThan(10); // 3 chunks pass the cap; the rest is never pulled
  });

  // What Bun does when a chunked body turns malformed after the handler started: the read fails.
  test("turns a body that breaks mid-stream into a 400 refusal, not an internal error", async () => {
    const err = await readBody(streamed([new Uint8Array([1]), new Uint8Array([2])], undefined, 1), 10).catch((e) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.status).toBe(400);
    expect(err.code).toBe("malformed_body");
    expect(err.stage).toBe("guard");
  });

  // Bun ends a chunked body at `0\r\n`, then refuses a trailer and closes the connection: the
  // request's signal aborts a moment after the body has ended. Here it aborts one turn later.
  test("refuses a chunked body whose connection closes right after its last chunk", async () => {
    const connection = new AbortController();
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (!sent) {
          sent = true;
          c.enqueue(new Uint8Array([1]));
          return;
        }
        c.close();
        setImmediate(() => connection.abort());
      },
    });
    const req = new Request("http://x/v1/chat/completions", { method: "POST", body, signal: connection.signal });
    const err = await readBody(req, 10).catch((e) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.code).toBe("malformed_body");
  });

  test("accepts the same body when the connection stays up", async () => {
    const body = await readBody(streamed([new Uint8Array([1])], undefined, -1, new AbortController().signal), 10);
    expect([...body]).toEqual([1]);
  });
});
