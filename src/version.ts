import pkg from "../package.json" with { type: "json" };

/** Warden's own version, from package.json at build time. */
export const WARDEN_VERSION: string = pkg.version;
