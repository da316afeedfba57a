/**
 * The connect timeout. Bun's fetch has no connect timeout of its own (its `timeout` option is an
 * idle timer that would also cut a model thinking quietly), and a host that drops SYNs leaves a
 * fetch waiting for the kernel's retries, about two minutes. So when an upstream call has had no
 * answer for the connect timeout, the forwarder asks {@link reachable}: one TCP connection to the
 * upstream's host and port, given the same time. If that cannot open either, the upstream is
 * unreachable and the call is aborted, to be retried elsewhere; if it opens, the model is just
 * slow and the call goes on.
 *
 * Calls that answer within the connect timeout never pay for a check, and concurrent slow calls
 * to one host share one check, so a busy gateway does not add a connection per request.
 */

const checks = new Map<string, Promise<boolean>>();

/** host:port of a base URL, with the scheme's default port. */
function endpointOf(url: string): { hostname: string; port: number; key: string } {
  const u = new URL(url);
  const port = u.port !== "" ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  const hostname = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { hostname, port, key: `${hostname}:${port}` };
}

/**
 * Whether a TCP connection to `url`'s host and port opens within `timeoutMs`.
 *
 * @example
 * if (!(await reachable("http://10.0.0.7:8000/v1", 3000))) abortTheCall();
 */
export function reachable(url: string, timeoutMs: number): Promise<boolean> {
  const { hostname, port, key } = endpointOf(url);
  let pending = checks.get(key);
  if (pending !== undefined) return pending;
  pending = new Promise<boolean>((resolve) => {
    let settled = false;
    const settle = (ok: boolean, socket?: { end(): void }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      resolve(ok);
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    Bun.connect({
      hostname,
      port,
      socket: {
        open: (socket) => settle(true, socket),
        connectError: () => settle(false),
        data() {},
        error: () => settle(false),
      },
    }).then(
      (socket) => {
        if (settled) socket.end(); // opened after the timeout: too late, but do not leak it
      },
      () => settle(false),
    );
  }).finally(() => checks.delete(key));
  checks.set(key, pending);
  return pending;
}
