/**
 * Stage 5, the adapter: picks the upstream that serves the model the client asked for.
 *
 * The body was parsed once, by the WAF stage; unless the WAF redacted something, the client's
 * original bytes are what we forward: no re-serialisation on the hot path.
 */
import type { Upstream } from "../config";
import { GatewayError } from "../errors";
import { prepare, type UpstreamTarget } from "../providers/openai";

export interface ParsedRequest {
  model: string;
  stream: boolean;
  target: UpstreamTarget;
}

export type ModelTable = Map<string, UpstreamTarget>;

export function modelTable(upstreams: Upstream[]): ModelTable {
  const table: ModelTable = new Map();
  for (const u of upstreams) {
    const target = prepare(u);
    for (const m of u.models) table.set(m, target);
  }
  return table;
}

/**
 * Picks the upstream for a body the WAF stage has already parsed and validated against the
 * endpoint's schema (so `model` is a non-empty string and `stream` a boolean if present).
 *
 * @example
 * const { model, stream, target } = routeRequest(body, table);
 */
export function routeRequest(body: Record<string, unknown>, models: ModelTable): ParsedRequest {
  const model = body.model as string;
  const target = models.get(model);
  if (target === undefined) {
    throw new GatewayError(
      404,
      `The model \`${model}\` does not exist or you do not have access to it.`,
      "invalid_request_error",
      "model_not_found",
      "model",
    );
  }
  return { model, stream: body.stream === true, target };
}
