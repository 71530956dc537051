import { printTable } from './table.ts';

/**
 * One line of the summary `npm run bench` prints at the end: what was measured, next to the ceiling
 * measured in the same run, their ratio, and the target it must meet (if it has one).
 */
export type SummaryRow = {
  benchmark: string;
  measure: string;
  value: string;
  ceiling: string;
  ratio: string;
  target: string;
  /** undefined: a figure reported, with no target to meet. */
  met?: boolean | undefined;
};

export function printSummary(rows: SummaryRow[]): void {
  printTable(
    'Summary: each measure next to its in-run ceiling',
    ['benchmark', 'measure', 'result', 'in-run ceiling', 'ratio', 'target', 'met'],
    rows.map((r) => [
      r.benchmark,
      r.measure,
      r.value,
      r.ceiling,
      r.ratio,
      r.target,
      r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    ]),
  );
}
