/** Helpers for tests that use the official `openai` SDK as the client. */
import { expect } from "bun:test";
import { APIError } from "openai";

/**
 * The APIError a call must fail with; fails the test if it succeeds or throws anything else.
 *
 * @example
 * const e = await apiError(client.chat.completions.create({ model: "nope", messages }));
 * expect(e.status).toBe(404);
 */
export async function apiError(p: Promise<unknown>): Promise<APIError> {
  const e = await p.then(
    () => undefined,
    (err) => err,
  );
  expect(e).toBeInstanceOf(APIError);
  return e as APIError;
}
