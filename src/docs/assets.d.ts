// Swagger UI's files, imported `with { type: "file" }`: the import is the file's path (inside a
// compiled binary, its embedded copy). swagger-ui-dist ships no types; tell the type checker so.
declare module "swagger-ui-dist/swagger-ui.css" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
