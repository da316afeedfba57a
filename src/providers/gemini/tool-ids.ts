/**
 * OpenAI tool-call ids for Gemini function calls, which carry no id of their own (or one an OpenAI
 * client need not keep). Gemini 3 requires the `thoughtSignature` of its first function call back
 * on the next turn; an OpenAI client only keeps the id, so the signature rides inside it:
 * `call_<random>` or `call_<random>~<signature>` ("~" never occurs in base64).
 */

const PREFIX = `call_${Math.random().toString(36).slice(2, 8)}`;
let counter = 0;

/**
 * @example
 * toolCallId("c2ln");   // "call_k3j9x20~c2ln"
 * toolCallId(undefined); // "call_k3j9x21"
 */
export function toolCallId(signature: string | undefined): string {
  const id = `${PREFIX}${(counter++).toString(36)}`;
  return signature === undefined || signature === "" ? id : `${id}~${signature}`;
}

/** The thought signature a tool-call id carries, if any. */
export function signatureOf(id: string): string | undefined {
  const at = id.indexOf("~");
  return at < 0 || at === id.length - 1 ? undefined : id.slice(at + 1);
}
