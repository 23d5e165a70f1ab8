/** Table and ratio printing shared by the realtime benchmarks. */
import { writeFileSync } from 'node:fs';

export function table(headers: string[], rows: Array<Array<string | number>>, alignLeft = 1): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i < alignLeft ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** Numbers with a sensible number of digits for a table. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export interface Ratio {
  name: string;
  mycel: number;
  peer: number;
  /** e.g. "≤ 0.50"; the ratio mycel/peer is checked against it. */
  goal?: { max: number; text: string };
}

/** The convention of DESIGN.md: `name  mycel  peer  ratio` (+ the goal, when there is one). */
export function ratioTable(ratios: Ratio[]): string {
  return table(
    ['name', 'mycel', 'peer', 'ratio', 'goal'],
    ratios.map((r) => {
      const ratio = r.mycel / r.peer;
      const verdict = r.goal ? `${r.goal.text} ${Number.isFinite(ratio) && ratio <= r.goal.max ? 'met' : 'NOT met'}` : '';
      return [r.name, r.mycel, r.peer, Number.isFinite(ratio) ? ratio.toFixed(2) : '-', verdict];
    }),
  );
}

export function writeJson(file: string | undefined, value: unknown): void {
  if (!file) return;
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  console.log(`results written to ${file}`);
}
