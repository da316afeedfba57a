/**
 * Label values with a bound the operator controls. A label's every distinct value is a time
 * series kept forever, so nothing a client sends may become one verbatim: model names come
 * from the configured list (anything else is "other"), tenants from key records, statuses are
 * numbers. Keys, request ids and prompt text never become labels.
 */

/** The label of a request whose model was never read (refused before its body was parsed). */
export const NO_MODEL = "";
/** The label of a model name that no upstream is configured to serve. */
export const OTHER_MODEL = "other";

/**
 * Maps a requested model name to its label.
 *
 * @example
 * const modelLabel = modelLabeler([{ models: ["gpt-4o", "gpt-4o-mini"] }]);
 * modelLabel("gpt-4o");  // "gpt-4o"
 * modelLabel("gpt-9");   // "other"
 * modelLabel(null);      // ""
 */
export function modelLabeler(upstreams: readonly { models: readonly string[] }[]): (model: string | null) => string {
  const known = new Set(upstreams.flatMap((u) => u.models));
  return (model) => (model === null ? NO_MODEL : known.has(model) ? model : OTHER_MODEL);
}
