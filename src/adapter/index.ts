/**
 * Stage 5, the adapter: picks the upstream that serves the model the client asked for.
 *
 * The body was parsed once, by the WAF stage; unless the WAF redacted something, the client's
 * original bytes are what we forward: no re-serialisation on the hot path.
 *
 * Each upstream's provider (src/providers) fixes its URLs and headers once, at start; an endpoint
 * its provider has no equivalent for (legacy completions or embeddings on Anthropic or Gemini) is
 * refused here, before anything is translated or sent.
 */
import type { Upstream } from "../config";
import { GatewayError } from "../errors";
import { prepareTarget, supports, type Endpoint, type UpstreamTarget } from "../providers";

export interface ParsedRequest {
  model: string;
  stream: boolean;
  target: UpstreamTarget;
}

export type ModelTable = Map<string, UpstreamTarget>;

export function modelTable(upstreams: Upstream[]): ModelTable {
  const table: ModelTable = new Map();
  for (const u of upstreams) {
    const target = prepareTarget(u);
    for (const m of u.models) table.set(m, target);
  }
  return table;
}

/**
 * Picks the upstream for a body the WAF stage has already parsed and validated against the
 * endpoint's schema (so `model` is a non-empty string and `stream` a boolean if present).
 *
 * @example
 * const { model, stream, target } = routeRequest(body, table, "chat/completions");
 */
export function routeRequest(body: Record<string, unknown>, models: ModelTable, endpoint: Endpoint = "chat/completions"): ParsedRequest {
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
  if (!supports(target.upstream, endpoint)) {
    throw new GatewayError(
      400,
      `The model \`${model}\` is served by an upstream of provider ${target.upstream.provider}, which does not support /v1/${endpoint}; use /v1/chat/completions.`,
      "invalid_request_error",
      "unsupported_endpoint",
      "model",
    );
  }
  return { model, stream: body.stream === true, target };
}
