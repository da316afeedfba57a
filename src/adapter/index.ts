/**
 * Stage 5, the adapter: reads what the client asked for (model, streaming) from the JSON body and
 * picks the upstream that serves that model.
 *
 * The body is parsed once to learn the model, but the client's original bytes are what we
 * forward: no re-serialisation on the hot path, and the upstream sees exactly what was audited.
 */
import type { Upstream } from "../config";
import { GatewayError } from "../errors";
import { prepare, type Endpoint, type UpstreamTarget } from "../providers/openai";

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

const decoder = new TextDecoder();

/**
 * @example
 * const { model, stream, target } = parseRequest(bodyBytes, "chat/completions", table);
 */
export function parseRequest(body: Uint8Array, endpoint: Endpoint, models: ModelTable): ParsedRequest {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch {
    throw new GatewayError(
      400,
      "We could not parse the JSON body of your request. The request body must be a JSON object.",
      "invalid_request_error",
      "invalid_json",
    );
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new GatewayError(400, "The request body must be a JSON object.", "invalid_request_error", "invalid_json");
  }
  const { model, stream } = json as { model?: unknown; stream?: unknown };
  if (typeof model !== "string" || model === "") {
    throw new GatewayError(400, "You must provide a model parameter.", "invalid_request_error", "missing_required_parameter", "model");
  }
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") {
    throw new GatewayError(400, "Invalid type for 'stream': expected a boolean.", "invalid_request_error", "invalid_type", "stream");
  }
  if (stream === true && endpoint === "embeddings") {
    throw new GatewayError(400, "Embeddings cannot be streamed.", "invalid_request_error", "invalid_value", "stream");
  }
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
  return { model, stream: stream === true, target };
}
