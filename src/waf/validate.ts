/**
 * Request-body validation against the OpenAI schemas in schema.ts.
 *
 * A valid body costs one call to a TypeBox checker compiled at start-up. Only an invalid body
 * pays for an explanation: the first error, with unions resolved to the variant the client
 * evidently meant (the message whose `role` it gave, the content part whose `type` it gave, the
 * array form when it sent an array), so the reply names the deepest field that is wrong, e.g.
 * `messages[1].content[0].image_url.url`, instead of "messages[1] matches no variant".
 */
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { ValueErrorType, type ValueError } from "@sinclair/typebox/errors";
import type { TSchema } from "@sinclair/typebox";
import { GatewayError } from "../errors";
import { ChatCompletionBody, CompletionBody, EmbeddingBody } from "./schema";
import type { Endpoint } from "./targets";

const CHECKS: Record<Endpoint, TypeCheck<TSchema>> = {
  "chat/completions": TypeCompiler.Compile(ChatCompletionBody),
  completions: TypeCompiler.Compile(CompletionBody),
  embeddings: TypeCompiler.Compile(EmbeddingBody),
};

/**
 * Checks `body` against the OpenAI request schema of `endpoint`; throws a 400 GatewayError of
 * type `invalid_request_error` whose `param` names the offending field in OpenAI's notation and
 * whose code is `missing_required_parameter`, `invalid_type` or `invalid_value`.
 *
 * @example
 * validateBody("chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }); // ok
 * validateBody("chat/completions", { model: "gpt-4o", messages: [], temperature: 3 }); // throws, param "messages"
 */
export function validateBody(endpoint: Endpoint, body: Record<string, unknown>): void {
  const check = CHECKS[endpoint];
  if (!check.Check(body)) throw explain(check, body);
  if (endpoint === "embeddings" && body.stream === true) {
    throw new GatewayError(400, "Embeddings cannot be streamed.", "invalid_request_error", "invalid_value", "stream");
  }
}

function explain(check: TypeCheck<TSchema>, body: Record<string, unknown>): GatewayError {
  const first = check.Errors(body).First();
  if (first === undefined) return invalid("invalid_value", null, "The request body does not match the API schema.");
  return describe(resolveUnion(first), body);
}

type Code = "missing_required_parameter" | "invalid_type" | "invalid_value";

function invalid(code: Code, param: string | null, message: string): GatewayError {
  return new GatewayError(400, message, "invalid_request_error", code, param);
}

/** A union error pointing at the variant the client meant, or a discriminator error. */
type Resolved = ValueError | { discriminator: string; allowed: string[]; path: string; value: unknown };

function resolveUnion(error: ValueError): Resolved {
  let e = error;
  while (e.type === ValueErrorType.Union) {
    const variants = (e.schema as unknown as { anyOf: TSchema[] }).anyOf;
    const choice = chooseVariant(variants, e.value);
    if (typeof choice !== "number") return { ...choice, path: e.path, value: e.value };
    if (choice < 0) return e;
    const inner = e.errors[choice]?.First();
    if (inner === undefined) return e;
    e = inner;
  }
  return e;
}

const DISCRIMINATORS = ["role", "type"];

/**
 * Which union variant the value was meant to be: by its `role` or `type` when the variants are
 * told apart that way, else by JSON kind. -1 when no variant fits (report the union itself).
 */
function chooseVariant(variants: TSchema[], value: unknown): number | { discriminator: string; allowed: string[] } {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    for (const key of DISCRIMINATORS) {
      const tags = variants.map((v) => (v.properties as Record<string, TSchema> | undefined)?.[key]);
      if (!tags.some((t) => t !== undefined && "const" in t)) continue;
      const fits = tags.flatMap((t, i) => (t !== undefined && tagAccepts(t, record[key]) ? [i] : []));
      if (fits.length === 1) return fits[0]!;
      if (fits.length === 0) {
        return { discriminator: key, allowed: tags.flatMap((t) => (t !== undefined && "const" in t ? [String(t.const)] : [])) };
      }
    }
  }
  const kind = kindOf(value);
  const fits = variants.flatMap((v, i) => (schemaKinds(v).includes(kind) ? [i] : []));
  if (fits.length <= 1) return fits.length === 1 ? fits[0]! : -1;
  return -1;
}

function tagAccepts(tag: TSchema, value: unknown): boolean {
  if ("const" in tag) return tag.const === value;
  if (typeof value !== "string") return false;
  return typeof tag.pattern === "string" ? new RegExp(tag.pattern).test(value) : tag.type === "string";
}

type Kind = "string" | "integer" | "number" | "boolean" | "null" | "array" | "object";

function kindOf(value: unknown): Kind {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value as Kind;
}

function schemaKinds(schema: TSchema): Kind[] {
  if ("const" in schema) return [kindOf(schema.const)];
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as TSchema[]).flatMap(schemaKinds);
  if (schema.type === "number") return ["number", "integer"];
  return typeof schema.type === "string" ? [schema.type as Kind] : [];
}

const KIND_TEXT: Record<Kind, string> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "a boolean",
  null: "null",
  array: "an array",
  object: "an object",
};

/** A short rendering of a client value for messages (never more than 40 characters). */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** OpenAI notation for a JSON pointer into `body`: /messages/1/content → messages[1].content. */
function paramOf(pointer: string, body: unknown): string {
  let out = "";
  let node: unknown = body;
  for (const raw of pointer.split("/").slice(1)) {
    const seg = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(node)) {
      out += `[${seg}]`;
      node = node[Number(seg)];
    } else {
      out += out === "" ? seg : `.${seg}`;
      node = node !== null && typeof node === "object" ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function expectedOf(schema: TSchema): string {
  if (typeof schema.expected === "string") return schema.expected;
  if ("const" in schema) return `'${String(schema.const)}'`;
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as TSchema[]).map(expectedOf).join(" or ");
  return KIND_TEXT[(schema.type as Kind) ?? "object"] ?? "a valid value";
}

const VALUE_ERRORS = new Set<ValueErrorType>([
  ValueErrorType.NumberMinimum,
  ValueErrorType.NumberMaximum,
  ValueErrorType.NumberExclusiveMinimum,
  ValueErrorType.NumberExclusiveMaximum,
  ValueErrorType.IntegerMinimum,
  ValueErrorType.IntegerMaximum,
  ValueErrorType.IntegerExclusiveMinimum,
  ValueErrorType.IntegerExclusiveMaximum,
  ValueErrorType.StringMinLength,
  ValueErrorType.StringMaxLength,
  ValueErrorType.StringPattern,
  ValueErrorType.ArrayMinItems,
  ValueErrorType.ArrayMaxItems,
  ValueErrorType.ObjectMaxProperties,
]);

function describe(r: Resolved, body: Record<string, unknown>): GatewayError {
  if ("discriminator" in r) {
    const param = paramOf(`${r.path}/${r.discriminator}`, body);
    const tag = (r.value as Record<string, unknown>)[r.discriminator];
    const allowed = r.allowed.map((a) => `'${a}'`).join(", ");
    if (tag === undefined) return invalid("missing_required_parameter", param, `Missing required parameter: '${param}'.`);
    if (typeof tag !== "string") return invalid("invalid_type", param, `Invalid type for '${param}': expected one of ${allowed}, but got ${KIND_TEXT[kindOf(tag)]} instead.`);
    return invalid("invalid_value", param, `Invalid value for '${param}': expected one of ${allowed}, but got ${show(tag)} instead.`);
  }
  const param = paramOf(r.path, body);
  if (param === "model" && (r.type === ValueErrorType.ObjectRequiredProperty || r.value === "")) {
    // Same reply as the adapter gives, whichever stage sees the body first.
    return invalid("missing_required_parameter", "model", "You must provide a model parameter.");
  }
  if (r.type === ValueErrorType.ObjectRequiredProperty) {
    return invalid("missing_required_parameter", param, `Missing required parameter: '${param}'.`);
  }
  const expected = expectedOf(r.schema);
  // The right kind of value but outside what is allowed (a range, a length, an enumeration)
  // is an invalid value; anything else is the wrong type.
  if (VALUE_ERRORS.has(r.type) || schemaKinds(r.schema).includes(kindOf(r.value))) {
    return invalid("invalid_value", param, `Invalid value for '${param}': expected ${expected}, but got ${show(r.value)} instead.`);
  }
  return invalid("invalid_type", param, `Invalid type for '${param}': expected ${expected}, but got ${KIND_TEXT[kindOf(r.value)]} instead.`);
}
