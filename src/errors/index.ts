/**
 * Errors in the OpenAI wire shape: `{"error":{"message","type","param","code"}}`.
 *
 * Every refusal Warden makes goes through {@link openAIError}, so clients written against the
 * official SDKs get an `APIError` with the right status and a stable `code` they can branch on.
 *
 * @example
 * return openAIError(404, "The model `gpt-9` does not exist.", "invalid_request_error", "model_not_found", "model");
 */

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "requests" // OpenAI's type for a 429 on requests per minute
  | "tokens" // ... and on tokens per minute
  | "insufficient_quota" // OpenAI's type (and code) for a 429 when the account's quota is spent
  | "upstream_error"
  | "timeout_error"
  | "server_error";

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

export function errorBody(message: string, type: ErrorType, code: string | null = null, param: string | null = null): ErrorBody {
  return { error: { message, type, param, code } };
}

export function openAIError(
  status: number,
  message: string,
  type: ErrorType,
  code: string | null = null,
  param: string | null = null,
  headers?: Record<string, string>,
): Response {
  return new Response(JSON.stringify(errorBody(message, type, code, param)), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

const encoder = new TextEncoder();

/**
 * A refusal or failure raised deep in a stage; `app.ts` turns it into the client's reply and the
 * audit record. `stage` says who refused (guard, auth, adapter, forwarder, upstream); the
 * request path fills it in when the thrower did not.
 */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers?: Record<string, string>,
    public stage?: string,
  ) {
    super(message);
  }

  /** The reply body, as the bytes the client receives (and the ledger hashes). */
  body(): Uint8Array {
    return encoder.encode(JSON.stringify(errorBody(this.message, this.type, this.code, this.param)));
  }

  toResponse(body: Uint8Array = this.body()): Response {
    return new Response(body as Uint8Array<ArrayBuffer>, { status: this.status, headers: { "content-type": "application/json", ...this.headers } });
  }
}
