/**
 * Stage 5, the adapter: finds the route of the model the client asked for (src/router builds
 * the routes: every upstream serving the model, and its settings).
 *
 * The body was parsed once, by the WAF stage; unless the WAF redacted something or the upstream
 * knows the model by another name, the client's original bytes are what we forward: no
 * re-serialisation on the hot path.
 *
 * An endpoint no deployment of the model can serve (legacy completions or embeddings on
 * Anthropic or Gemini) is refused here, before anything is translated or sent.
 */
import { GatewayError } from "../errors";
import { supports, type Endpoint } from "../providers";
import type { Route, RouteTable } from "../router";

export interface ParsedRequest {
  model: string;
  stream: boolean;
  route: Route;
}

/**
 * The route for a body the WAF stage has already parsed and validated against the endpoint's
 * schema (so `model` is a non-empty string and `stream` a boolean if present).
 *
 * @example
 * const { model, stream, route } = routeRequest(body, routes, "chat/completions");
 */
export function routeRequest(body: Record<string, unknown>, routes: RouteTable, endpoint: Endpoint = "chat/completions"): ParsedRequest {
  const model = body.model as string;
  const route = routes.get(model);
  if (route === undefined) {
    throw new GatewayError(
      404,
      `The model \`${model}\` does not exist or you do not have access to it.`,
      "invalid_request_error",
      "model_not_found",
      "model",
    );
  }
  if (endpoint !== "chat/completions" && !route.deployments.some((d) => supports(d.target.upstream, endpoint))) {
    const providers = [...new Set(route.deployments.map((d) => d.target.upstream.provider))].join(", ");
    throw new GatewayError(
      400,
      `The model \`${model}\` is served by upstreams of provider ${providers}, which do not support /v1/${endpoint}; use /v1/chat/completions.`,
      "invalid_request_error",
      "unsupported_endpoint",
      "model",
    );
  }
  return { model, stream: body.stream === true, route };
}
