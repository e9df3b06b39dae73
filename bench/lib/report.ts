import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { Dialect } from './options.js';
import { ROOT } from './server.js';
import { max, median, min, ratios } from './stats.js';

export interface TargetSpec {
  /** What is compared: the ratio to the ceiling, or the figure itself. */
  on: 'ratio' | 'value';
  op: '>=' | '<=' | '<';
  threshold: number;
  /** As the issue states it. */
  text: string;
}

/** One line of the report: a figure measured once per round, optionally with the ceiling measured in the same rounds. */
export interface Row {
  scenario: string;
  dialect: Dialect;
  measure: string;
  unit: string;
  values: number[];
  ceiling?: number[];
  /** higher: throughput (the ratio is the fraction of the ceiling reached); lower: a cost (the ratio is a multiple of the ceiling's). */
  better: 'higher' | 'lower';
  target?: TargetSpec;
  note?: string;
}

export interface RowSummary extends Row {
  median: number;
  min: number;
  max: number;
  ceilingMedian?: number;
  ratios?: number[];
  ratioMedian?: number;
  ratioMin?: number;
  ratioMax?: number;
  pass?: boolean;
}

export function summarize(row: Row): RowSummary {
  const s: RowSummary = { ...row, median: median(row.values), min: min(row.values), max: max(row.values) };
  // A ratio to a ceiling of zero or less (a latency the client saw as negative) means nothing.
  if (row.ceiling?.every((c) => c > 0)) {
    const r = ratios(row.values, row.ceiling);
    Object.assign(s, { ceilingMedian: median(row.ceiling), ratios: r, ratioMedian: median(r), ratioMin: min(r), ratioMax: max(r) });
  }
  if (row.target) {
    const x = row.target.on === 'ratio' ? s.ratioMedian : s.median;
    const t = row.target.threshold;
    s.pass = x !== undefined && (row.target.op === '>=' ? x >= t : row.target.op === '<=' ? x <= t : x < t);
  }
  return s;
}

function num(x: number, unit: string): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (Number.isInteger(x) && unit !== '×') return x.toLocaleString('en-US');
  if (unit === 'ms') return x < 10 ? x.toFixed(2) : x.toFixed(1);
  if (unit === '×') return x.toFixed(2);
  if (unit === 'MiB') return x.toFixed(0);
  return x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1);
}

function ratioText(x: number | undefined, better: 'higher' | 'lower'): string {
  if (x === undefined || !Number.isFinite(x)) return '';
  if (better === 'lower') return `${x.toFixed(2)}×`;
  return `${(x * 100).toFixed(x < 0.1 ? 1 : 0)} %`;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The Markdown table: one line per figure, medians with min–max over the rounds. */
export function markdownTable(rows: RowSummary[]): string {
  const head = ['scenario', 'db', 'measure', 'taskproc: median (min–max)', 'ceiling: median', 'vs ceiling: median (min–max)', 'target', 'result'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const u = r.unit;
    const val = `${num(r.median, u)} ${u}${r.values.length > 1 ? ` (${num(r.min, u)}–${num(r.max, u)})` : ''}`;
    const ceil = r.ceilingMedian === undefined ? '—' : `${num(r.ceilingMedian, u)} ${u}`;
    const rat =
      r.ratioMedian === undefined
        ? '—'
        : `${ratioText(r.ratioMedian, r.better)}${(r.ratios?.length ?? 0) > 1 ? ` (${ratioText(r.ratioMin, r.better)}–${ratioText(r.ratioMax, r.better)})` : ''}`;
    const result = r.pass === undefined ? '' : r.pass ? 'PASS' : '**FAIL**';
    lines.push(`| ${[r.scenario, r.dialect, r.measure, val, ceil, rat, r.target?.text ?? '—', result].map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  os: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
}

export function machine(): Machine {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** HEAD's commit, with "+ uncommitted changes" when the work tree differs from it. */
export function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
}
