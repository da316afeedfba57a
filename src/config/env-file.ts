/**
 * Reads a systemd/dotenv-style env file: `NAME=value` lines, `#` comments, optional `export `,
 * single or double quotes (double quotes understand `\n`, `\"` and `\\`).
 *
 * Bun's own `.env` auto-loading is switched off in the compiled binary (see build.ts): the
 * operator names the file, nothing is picked up from the working directory by surprise.
 *
 * @example
 * parseEnvFile('WARDEN_PORT=8080\n# comment\nexport WARDEN_HOST="0.0.0.0"')
 * // → { WARDEN_PORT: "8080", WARDEN_HOST: "0.0.0.0" }
 */
export function parseEnvFile(text: string, source = "env file"): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("export ")) line = line.slice(7).trimStart();
    const eq = line.indexOf("=");
    const name = eq > 0 ? line.slice(0, eq).trim() : "";
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new Error(`${source}:${i + 1}: expected NAME=value`);
    }
    out[name] = unquote(line.slice(eq + 1).trim(), `${source}:${i + 1}`);
  }
  return out;
}

function unquote(raw: string, where: string): string {
  const q = raw[0];
  if (q !== '"' && q !== "'") return raw.replace(/\s+#.*$/, "");
  const end = raw.lastIndexOf(q);
  if (end === 0) throw new Error(`${where}: unterminated ${q} quote`);
  const inner = raw.slice(1, end);
  if (q === "'") return inner;
  return inner.replace(/\\([n"\\])/g, (_, c: string) => (c === "n" ? "\n" : c));
}
