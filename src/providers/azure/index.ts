/**
 * Azure OpenAI: OpenAI's wire format at per-deployment URLs. A request for a model goes to
 * `{base}/deployments/{deployment}/{endpoint}?api-version={version}` with the key in an `api-key`
 * header; the deployment is the name the operator gave the model in Azure, which is what
 * WARDEN_UPSTREAM_<NAME>_MODELS maps the client's model name to (`gpt-4o=my-gpt4o-deployment`).
 *
 * Bodies and replies are OpenAI's, so the forwarder's pass-through serves Azure as it is; only the
 * URL and the credential header differ (Azure ignores the body's `model` on deployment URLs).
 */
import type { Upstream } from "../../config";
import type { UpstreamTarget } from "../openai";

/**
 * @example
 * prepareAzure({ ...upstream, url: "https://acme.openai.azure.com/openai", apiVersion: "2024-10-21" }, "gpt4o-prod").urls["chat/completions"];
 * // "https://acme.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
 */
export function prepareAzure(upstream: Upstream, deployment: string): UpstreamTarget {
  const base = `${upstream.url}/deployments/${encodeURIComponent(deployment)}`;
  const query = `?api-version=${encodeURIComponent(upstream.apiVersion ?? "")}`;
  const baseHeaders: Record<string, string> = { "content-type": "application/json" };
  if (upstream.key !== undefined) baseHeaders["api-key"] = upstream.key;
  return {
    upstream,
    model: deployment,
    urls: {
      "chat/completions": `${base}/chat/completions${query}`,
      completions: `${base}/completions${query}`,
      embeddings: `${base}/embeddings${query}`,
    },
    baseHeaders,
  };
}
