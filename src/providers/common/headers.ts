/**
 * The headers of an upstream request, rebuilt from an allow-list: the provider's fixed ones
 * (content type, credential, version), the request id, and only the client headers each
 * provider names. Nothing else the client sent passes (hop-by-hop headers, its own key).
 */

/**
 * @example
 * rebuiltHeaders({ "content-type": "application/json", "x-api-key": key }, request.headers, "req_1", ["user-agent"]);
 */
export function rebuiltHeaders(fixed: Record<string, string>, client: Headers | undefined, requestId: string | undefined, forwarded: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = { ...fixed };
  if (requestId !== undefined) headers["x-request-id"] = requestId;
  if (client !== undefined) {
    for (const name of forwarded) {
      const value = client.get(name);
      if (value !== null) headers[name] = value;
    }
  }
  return headers;
}
