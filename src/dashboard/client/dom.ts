/// <reference lib="dom" />
/**
 * The few DOM helpers the page needs. Everything shown goes in through `textContent`: label
 * values in /metrics (model names, for one) come from clients' requests, so no HTML is ever
 * built from data.
 *
 * @example
 * renderTable("status-table", [{ title: "status", cell: (r) => r.key }], rows, "no requests yet");
 */

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el as T;
}

export function setText(id: string, text: string): void {
  const el = byId(id);
  if (el.textContent !== text) el.textContent = text;
}

export interface Column<R> {
  title: string;
  cell: (row: R) => string;
  numeric?: boolean;
}

/** Replaces the table's contents with a header row and one row per item (or an "empty" row). */
export function renderTable<R>(id: string, columns: Column<R>[], rows: readonly R[], empty = "nothing yet"): void {
  const table = byId<HTMLTableElement>(id);
  const head = document.createElement("tr");
  for (const c of columns) head.append(cell("th", c.title, c.numeric));
  const body: HTMLTableRowElement[] = rows.map((r) => {
    const tr = document.createElement("tr");
    for (const c of columns) tr.append(cell("td", c.cell(r), c.numeric));
    return tr;
  });
  if (body.length === 0) {
    const tr = document.createElement("tr");
    const td = cell("td", empty);
    td.colSpan = columns.length;
    td.className = "empty";
    tr.append(td);
    body.push(tr);
  }
  table.replaceChildren(head, ...body);
}

function cell(tag: "td" | "th", text: string, numeric = false): HTMLTableCellElement {
  const el = document.createElement(tag);
  el.textContent = text;
  if (numeric) el.className = "num";
  return el;
}

/** Draws `values` into the SVG's polyline (viewBox 120 × 30), scaled to the largest value. */
export function sparkline(id: string, values: readonly number[]): void {
  const line = byId(id).querySelector("polyline");
  if (line === null) return;
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? 120 / (values.length - 1) : 0;
  line.setAttribute("points", values.map((v, i) => `${(i * step).toFixed(1)},${(29 - (v / max) * 28).toFixed(1)}`).join(" "));
}
