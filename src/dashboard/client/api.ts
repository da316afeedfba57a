/// <reference lib="dom" />
/**
 * The page's calls to its own gateway, with the admin key as `Authorization: Bearer`. Paths are
 * absolute on the page's origin: the dashboard talks to nothing else.
 *
 * The key lives in sessionStorage: it survives a reload but not the tab, and is never written
 * anywhere the gateway could log it (it travels only in the header).
 *
 * @example
 * const text = await (await get("/metrics", session.key())).text(); // throws ApiError on 401
 */

const STORAGE_KEY = "warden.adminKey";

export const session = {
  key(): string | undefined {
    return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
  },
  save(key: string): void {
    sessionStorage.setItem(STORAGE_KEY, key);
  },
  clear(): void {
    sessionStorage.removeItem(STORAGE_KEY);
  },
};

/** A non-2xx answer, with the gateway's OpenAI-shaped error message when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
  get unauthorized(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

/** GET `path` from the gateway; throws ApiError for non-2xx answers. */
export async function get(path: string, key: string | undefined): Promise<Response> {
  const res = await fetch(path, {
    headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    cache: "no-store",
    credentials: "omit",
  });
  if (res.ok) return res;
  let message = `HTTP ${res.status}`;
  let code: string | undefined;
  try {
    const body = (await res.json()) as { error?: { message?: string; code?: string } };
    if (body.error?.message) message = `${body.error.message} (HTTP ${res.status})`;
    code = body.error?.code;
  } catch {} // not JSON: the status says enough
  throw new ApiError(res.status, message, code);
}
