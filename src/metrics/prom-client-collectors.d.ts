/** prom-client's individual default collectors (plain CommonJS, no types of their own); see process.ts. */
declare module "prom-client/lib/metrics/*" {
  import type { Registry } from "prom-client";
  const install: (registry: Registry, config?: { prefix?: string }) => void;
  export default install;
}
