/** Plain-text rendering for the eval report: aligned markdown tables and number formats. */

export type Align = 'left' | 'right';

/**
 * A markdown table padded so that it is aligned in a terminal too. Columns whose cells (past the header)
 * all look numeric are right-aligned unless `align` says otherwise.
 */
export function renderTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, align?: readonly Align[]): string {
  const cols = header.length;
  const cell = (r: readonly string[], i: number) => (r[i] ?? '').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const numeric = (i: number) => rows.length > 0 && rows.every((r) => /^[-+]?[\d,.]+%?$|^n\/a$|^-$/.test(cell(r, i)));
  const aligns: Align[] = Array.from({ length: cols }, (_, i) => align?.[i] ?? (numeric(i) ? 'right' : 'left'));
  const widths = Array.from({ length: cols }, (_, i) => Math.max(3, header[i]!.length, ...rows.map((r) => cell(r, i).length)));
  const fmt = (r: readonly string[]) =>
    `| ${Array.from({ length: cols }, (_, i) => (aligns[i] === 'right' ? cell(r, i).padStart(widths[i]!) : cell(r, i).padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (aligns[i] === 'right' ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [fmt(header), rule, ...rows.map(fmt)].join('\n');
}

/** 0.8123 -> "0.812". */
export function fixed(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

/** 0.0123 -> "1.23%". */
export function percent(x: number, digits = 2): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : 'n/a';
}

/** 12345 -> "12,345". */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** PASS or FAIL. */
export function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'FAIL';
}

/** Cuts text to `max` characters with an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
