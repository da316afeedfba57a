// Line charts for bench/peers/run.ts: SVG written here (no chart library), laid out in an HTML page
// and turned into a PNG by headless Chromium (/usr/bin/chromium via playwright-core, a dev dependency).

export interface Point { x: number; y: number }
export interface Series { name: string; color: string; points: Point[]; dash?: string }
export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  /** x positions to label (default: every distinct x of the data). */
  xTicks?: number[];
  series: Series[];
  /** Horizontal reference lines, e.g. the ideal 25 ms gap. */
  refs?: { y: number; label: string }[];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  if (a >= 10 || a === 0) return `${+v.toFixed(0)}`;
  if (a >= 1) return `${+v.toFixed(1)}`;
  return `${+v.toPrecision(2)}`;
}

function niceLinearTicks(lo: number, hi: number, n = 6): number[] {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const decades = Math.log10(hi / lo);
  const mults = decades > 4 ? [1] : decades > 2 ? [1, 3] : [1, 2, 5];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of mults) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(+v.toPrecision(6));
    }
  }
  return out;
}

/** One panel as an SVG element of the given size. Points with non-finite or (on a log axis) non-positive values are left out. */
export function panelSvg(p: Panel, width = 560, height = 360): string {
  const m = { l: 64, r: 16, t: 34, b: 48 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const ok = (v: number, log?: boolean) => Number.isFinite(v) && (!log || v > 0);
  const pts = p.series.flatMap((s) => s.points.filter((q) => ok(q.x, p.xLog) && ok(q.y, p.yLog)));
  const refYs = (p.refs ?? []).map((r) => r.y).filter((y) => ok(y, p.yLog));
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">`;
  out += `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`;
  out += `<text x="${m.l + w / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold" fill="#222">${esc(p.title)}</text>`;
  if (pts.length === 0) {
    out += `<text x="${m.l + w / 2}" y="${m.t + h / 2}" text-anchor="middle" font-size="14" fill="#888">no data</text></svg>`;
    return out;
  }
  const xs = pts.map((q) => q.x);
  const ys = [...pts.map((q) => q.y), ...refYs];
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (p.xLog) { x0 /= 1.25; x1 *= 1.25; } else { const d = (x1 - x0 || 1) * 0.04; x0 -= d; x1 += d; }
  if (p.yLog) {
    y0 = 10 ** (Math.floor(Math.log10(y0) * 2) / 2); // round half-decades around the data
    y1 = 10 ** (Math.ceil(Math.log10(y1) * 2) / 2);
    if (y1 / y0 < 10) y1 = y0 * 10;
  } else {
    y0 = Math.min(0, y0);
    y1 = y1 * 1.08 || 1;
  }
  const X = (v: number) => m.l + (p.xLog ? (Math.log10(v / x0) / Math.log10(x1 / x0)) * w : ((v - x0) / (x1 - x0)) * w);
  const Y = (v: number) => m.t + h - (p.yLog ? (Math.log10(v / y0) / Math.log10(y1 / y0)) * h : ((v - y0) / (y1 - y0)) * h);
  // grid and axes
  const yt = p.yLog ? logTicks(y0, y1) : niceLinearTicks(y0, y1);
  for (const v of yt) {
    const y = Y(v).toFixed(1);
    out += `<line x1="${m.l}" x2="${m.l + w}" y1="${y}" y2="${y}" stroke="#e3e3e3"/>`;
    out += `<text x="${m.l - 6}" y="${y}" dy="4" text-anchor="end" font-size="12" fill="#444">${fmt(v)}</text>`;
  }
  const xt = p.xTicks ?? (p.xLog ? [...new Set(xs)].sort((a, b) => a - b) : niceLinearTicks(x0, x1, 8));
  for (const v of xt) {
    if (v < x0 || v > x1) continue;
    const x = X(v).toFixed(1);
    out += `<line x1="${x}" x2="${x}" y1="${m.t}" y2="${m.t + h}" stroke="#f0f0f0"/>`;
    out += `<text x="${x}" y="${m.t + h + 16}" text-anchor="middle" font-size="12" fill="#444">${fmt(v)}</text>`;
  }
  out += `<rect x="${m.l}" y="${m.t}" width="${w}" height="${h}" fill="none" stroke="#999"/>`;
  out += `<text x="${m.l + w / 2}" y="${height - 8}" text-anchor="middle" font-size="13" fill="#222">${esc(p.xLabel)}</text>`;
  out += `<text transform="translate(16 ${m.t + h / 2}) rotate(-90)" text-anchor="middle" font-size="13" fill="#222">${esc(p.yLabel)}</text>`;
  for (const r of p.refs ?? []) {
    if (!ok(r.y, p.yLog) || r.y < y0 || r.y > y1) continue;
    const y = Y(r.y).toFixed(1);
    out += `<line x1="${m.l}" x2="${m.l + w}" y1="${y}" y2="${y}" stroke="#555" stroke-dasharray="2 4"/>`;
    out += `<text x="${m.l + w - 4}" y="${y}" dy="-4" text-anchor="end" font-size="11" fill="#555">${esc(r.label)}</text>`;
  }
  // series
  for (const s of p.series) {
    const q = s.points.filter((v) => ok(v.x, p.xLog) && ok(v.y, p.yLog)).sort((a, b) => a.x - b.x);
    if (q.length === 0) continue;
    const d = q.map((v, i) => `${i ? "L" : "M"}${X(v.x).toFixed(1)},${Y(v.y).toFixed(1)}`).join(" ");
    out += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`;
    for (const v of q) out += `<circle cx="${X(v.x).toFixed(1)}" cy="${Y(v.y).toFixed(1)}" r="3.5" fill="${s.color}"/>`;
  }
  return out + "</svg>";
}

/** A page of panels with a title, a note and one legend for all, as a PNG at `path`. */
export async function renderPng(o: { path: string; title: string; note: string; panels: Panel[]; cols?: number; panelW?: number; panelH?: number }): Promise<void> {
  const cols = o.cols ?? Math.min(3, o.panels.length);
  const pw = o.panelW ?? 560;
  const ph = o.panelH ?? 360;
  const legend = new Map<string, Series>();
  for (const p of o.panels) for (const s of p.series) if (!legend.has(s.name)) legend.set(s.name, s);
  const legendHtml = [...legend.values()]
    .map((s) => `<span class="item"><svg width="34" height="12"><line x1="2" x2="32" y1="6" y2="6" stroke="${s.color}" stroke-width="3"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/><circle cx="17" cy="6" r="3.5" fill="${s.color}"/></svg>${esc(s.name)}</span>`)
    .join("");
  const width = cols * pw + 40;
  const html = `<!doctype html><html><head><meta charset="utf-8"><style>
    body { margin: 0; padding: 16px 20px; background: #fff; font-family: "DejaVu Sans", Arial, sans-serif; color: #222; width: ${width - 40}px; }
    h1 { font-size: 20px; margin: 0 0 4px; }
    p { font-size: 13px; margin: 0 0 8px; color: #444; line-height: 1.35; }
    .legend { font-size: 14px; margin: 6px 0 10px; }
    .item { display: inline-flex; align-items: center; gap: 4px; margin-right: 18px; }
    .grid { display: grid; grid-template-columns: repeat(${cols}, ${pw}px); gap: 0; }
  </style></head><body><h1>${esc(o.title)}</h1><p>${esc(o.note)}</p><div class="legend">${legendHtml}</div>
  <div class="grid">${o.panels.map((p) => panelSvg(p, pw, ph)).join("")}</div></body></html>`;
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  try {
    const page = await browser.newPage({ viewport: { width, height: 400 }, deviceScaleFactor: 1 });
    await page.setContent(html, { waitUntil: "load" });
    await page.screenshot({ path: o.path, fullPage: true });
  } finally {
    await browser.close();
  }
}
