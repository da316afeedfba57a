/**
 * One-line JSON logs on stderr (journald keeps them; `jq` reads them).
 * Never pass secrets here: keys are logged only by their id, prompts and replies never.
 *
 * Request lines ({@link logRequest}) come at the request rate, so they are buffered and written
 * in one go every {@link FLUSH_MS} ms (or at {@link FLUSH_BYTES}): one write per batch instead of
 * one per request. Other lines are written at once. The buffer is flushed on exit; a kill -9
 * can lose the last 100 ms of request lines — the audit ledger, not the log, is the record.
 */
type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold = ORDER.info;

export function setLogLevel(level: Level): void {
  threshold = ORDER[level];
}

export function log(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (ORDER[level] < threshold) return;
  flushRequests(); // keep lines in time order
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  process.stderr.write(line + "\n");
}

/** What one forwarded request's log line says. */
export interface RequestLine {
  request_id: string;
  key_id: string | null;
  tenant: string | null;
  route: string;
  model: string | null;
  upstream: string | null;
  status: number;
  /** The stage and code that refused or failed the request, if one did. */
  refusal: { stage: string; code: string } | null;
  total_ms: number;
  upstream_first_byte_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  /** WAF rule ids that matched. */
  waf: string[];
  /** The rate limiter's outcome when a limit applied: allowed | limited | unenforced. */
  rate_limit: string | null;
}

const FLUSH_MS = 100;
const FLUSH_BYTES = 64 * 1024;
let pending = "";
let timer: Timer | undefined;

function flushRequests(): void {
  if (timer !== undefined) {
    clearTimeout(timer);
    timer = undefined;
  }
  if (pending === "") return;
  const out = pending;
  pending = "";
  process.stderr.write(out);
}
process.on("exit", flushRequests);

/** Whether request lines are written: callers skip building a line nobody will see. */
export function logsRequests(): boolean {
  return ORDER.info >= threshold;
}

/**
 * Logs one forwarded request at level info.
 *
 * @example
 * logRequest({ request_id, key_id: "key_0123", tenant: "acme", route: "/v1/chat/completions", model: "gpt-4o-mini", upstream: "openai",
 *   status: 200, refusal: null, total_ms: 412.5, upstream_first_byte_ms: 398.1, prompt_tokens: 9, completion_tokens: 16, waf: [], rate_limit: "allowed" });
 */
export function logRequest(line: RequestLine): void {
  if (ORDER.info < threshold) return;
  pending += `{"time":"${new Date().toISOString()}","level":"info","msg":"request",${JSON.stringify(line).slice(1)}\n`;
  if (pending.length >= FLUSH_BYTES) flushRequests();
  else timer ??= setTimeout(flushRequests, FLUSH_MS);
}
