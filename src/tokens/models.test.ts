import { describe, expect, test } from "bun:test";
import { encodingFor } from "./models.ts";

describe("encodingFor", () => {
  test.each([
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4o-2024-08-06",
    "gpt-4.1",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4.5-preview",
    "gpt-5",
    "gpt-5-mini",
    "o1",
    "o1-mini",
    "o3-mini-2025-01-31",
    "o4-mini",
    "chatgpt-4o-latest",
    "gpt-oss-120b",
  ])("%s → o200k_base", (model) => {
    expect(encodingFor(model)).toBe("o200k_base");
  });

  test.each([
    "gpt-4",
    "gpt-4-0613",
    "gpt-4-32k",
    "gpt-4-turbo",
    "gpt-4-turbo-2024-04-09",
    "gpt-3.5-turbo",
    "gpt-3.5-turbo-instruct",
    "gpt-35-turbo",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
  ])("%s → cl100k_base", (model) => {
    expect(encodingFor(model)).toBe("cl100k_base");
  });

  test.each(["text-davinci-002", "text-davinci-003", "code-davinci-002", "code-cushman-001"])(
    "%s → p50k_base",
    (model) => {
      expect(encodingFor(model)).toBe("p50k_base");
    },
  );

  test("other models get the documented cl100k_base approximation", () => {
    for (const model of ["llama-3.1-70b", "mistral-large", "claude-3-5-sonnet", "gemini-1.5-pro", "o2-preview", "olmo-7b", ""]) {
      expect(encodingFor(model)).toBe("cl100k_base");
    }
  });

  test("provider paths, fine-tune wrappers and case are looked through", () => {
    expect(encodingFor("openai/gpt-4o")).toBe("o200k_base");
    expect(encodingFor("ft:gpt-4o-mini-2024-07-18:acme::abc123")).toBe("o200k_base");
    expect(encodingFor("ft:gpt-3.5-turbo-0125:acme::x")).toBe("cl100k_base");
    expect(encodingFor("GPT-4O")).toBe("o200k_base");
    expect(encodingFor(" gpt-4 ")).toBe("cl100k_base");
  });
});
