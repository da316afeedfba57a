// `import css from "./page/style.css" with { type: "text" }` gives the file's text (embedded in
// a compiled binary); tell the type checker so. Narrow on purpose: other folders' assets are
// theirs to declare.
declare module "*/page/style.css" {
  const text: string;
  export default text;
}
