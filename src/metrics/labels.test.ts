import { expect, test } from "bun:test";
import { modelLabeler, NO_MODEL, OTHER_MODEL } from "./labels";

test("configured models are their own label, anything else is 'other', an unread model ''", () => {
  const label = modelLabeler([{ models: ["gpt-4o", "meta-llama/Llama-3.1-8B"] }, { models: ["mock-embed"] }]);
  expect(label("gpt-4o")).toBe("gpt-4o");
  expect(label("meta-llama/Llama-3.1-8B")).toBe("meta-llama/Llama-3.1-8B");
  expect(label("mock-embed")).toBe("mock-embed");
  expect(label("gpt-9")).toBe(OTHER_MODEL);
  expect(label("GPT-4O")).toBe(OTHER_MODEL);
  expect(label("")).toBe(OTHER_MODEL);
  expect(label(null)).toBe(NO_MODEL);
  expect(OTHER_MODEL).toBe("other");
  expect(NO_MODEL).toBe("");
});
