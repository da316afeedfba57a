/**
 * One raw HTTP/1.1 exchange over a plain TCP socket, and a reader for the responses that come
 * back, so the tests see exactly what a client on the wire sees (no fetch normalising either
 * direction).
 *
 * @example
 * const ex = await exchange("127.0.0.1", 8080, [bytes]);
 * const [first] = parseResponses(ex.bytes); // { status, headers, body }
 */
import { connect } from "node:net";

export interface Exchange {
  /** Everything the server sent. */
  bytes: Buffer;
  /** The server closed (or reset) the connection before we gave up waiting. */
  closedByServer: boolean;
}

export interface Timing {
  /** Pause between the parts of a case split by `${pause}`. */
  pauseMs: number;
  /** Stop waiting once the server has said nothing for this long. */
  quietMs: number;
  /** Stop waiting after this long in any case. */
  maxMs: number;
}

const TIMING: Timing = { pauseMs: 150, quietMs: 400, maxMs: 5000 };

/**
 * Writes `parts` to a fresh connection (pausing between them) and collects the reply until the
 * server closes the connection or goes quiet.
 */
export function exchange(host: string, port: number, parts: Uint8Array[], timing: Timing = TIMING): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let closedByServer = false;
    let finished = false;
    let quiet: ReturnType<typeof setTimeout> | undefined;
    let written = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(quiet);
      clearTimeout(limit);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closedByServer });
    };
    const limit = setTimeout(finish, timing.maxMs);
    const rearm = () => {
      clearTimeout(quiet);
      if (written) quiet = setTimeout(finish, timing.quietMs);
    };
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      rearm();
    });
    socket.on("end", () => {
      closedByServer = true;
      finish();
    });
    socket.on("error", () => {
      // A reset after the server refused is a close too (we may still be writing).
      closedByServer = true;
      finish();
    });
    socket.on("connect", async () => {
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) await Bun.sleep(timing.pauseMs);
        if (finished || socket.destroyed) return;
        socket.write(parts[i]);
      }
      written = true;
      rearm();
    });
  });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Splits what the server sent into responses. A response without Content-Length or chunked
 * framing (Bun's bare parser refusals) runs to the end of the bytes.
 */
export function parseResponses(bytes: Buffer): RawResponse[] {
  const text = bytes.toString("latin1");
  const out: RawResponse[] = [];
  let at = 0;
  while (at < text.length) {
    const headEnd = text.indexOf("\r\n\r\n", at);
    if (headEnd < 0) throw new Error(`truncated response head: ${JSON.stringify(text.slice(at, at + 200))}`);
    const [statusLine, ...lines] = text.slice(at, headEnd).split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
    if (!Number.isInteger(status)) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    let bodyStart = headEnd + 4;
    let body: string;
    if (headers["content-length"] !== undefined) {
      body = text.slice(bodyStart, bodyStart + Number(headers["content-length"]));
      at = bodyStart + body.length;
    } else if (headers["transfer-encoding"] === "chunked") {
      body = "";
      for (;;) {
        const lineEnd = text.indexOf("\r\n", bodyStart);
        const size = parseInt(text.slice(bodyStart, lineEnd), 16);
        bodyStart = lineEnd + 2;
        if (!(size > 0)) break;
        body += text.slice(bodyStart, bodyStart + size);
        bodyStart += size + 2;
      }
      at = bodyStart + 2;
    } else if (status === 100 || status === 204 || status === 304) {
      body = "";
      at = bodyStart;
    } else {
      body = text.slice(bodyStart);
      at = text.length;
    }
    out.push({ status, headers, body });
  }
  return out;
}
