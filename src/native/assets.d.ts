// `import lib from "….so" with { type: "file" }` gives the path of the file (Bun copies it into a
// compiled binary's embedded files); tell the type checker so.
declare module "*.so" {
  const path: string;
  export default path;
}
