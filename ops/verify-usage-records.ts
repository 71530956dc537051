import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * Checks that an invoice's usage line is exactly the usage records behind it: it recomputes, from
 * the records alone, their count, their quantity sum (exact decimals, never floats) and the records
 * digest (docs/usage-metering.md, "Tracing a line to its records"), and compares them with the line.
 *
 * Deliberately dependency-free (Node's built-ins only, nothing from this repository) so a customer
 * can read it in a minute, copy it, and run it against the API with their own token:
 *
 *   npx tsx ops/verify-usage-records.ts --api http://localhost:3000/api/v1 --token "$TOKEN" \
 *     --invoice in_… --line il_…
 *   npx tsx ops/verify-usage-records.ts --invoice-file invoice.json --line il_… --records-file records.json
 *
 * `--records-file` holds a saved listing: the records, one page (`{"data": [...]}`) or a list of
 * pages. Exit code 0: the records match the line; 1: they do not; 2: it could not check.
 */

export type Line = {
  id: string;
  kind: string;
  metric: string | null;
  price_id: string | null;
  quantity: string | null;
  records: number | null;
  records_digest: string | null;
};
export type ListedRecord = {
  idempotency_key: string;
  quantity: string;
  /** As listed: each must be the line's own (a record of another metric or price is not the line's). */
  metric?: string;
  price_id?: string;
};

export type Verdict = {
  ok: boolean;
  rows: { what: string; line: string; records: string; ok: boolean }[];
  problems: string[];
};

/** The digest: each key's SHA-256, first 16 bytes as a big-endian number, summed mod 2^128, 32 hex digits. */
export function recordsDigest(keys: readonly string[]): string {
  let sum = 0n;
  for (const key of keys) {
    sum += BigInt(`0x${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 32)}`);
  }
  return (sum % 2n ** 128n).toString(16).padStart(32, '0');
}

/** Exact sum of non-negative decimal strings, as a canonical decimal string ("1502", "2.5"). */
export function sumDecimals(values: readonly string[]): string {
  const parsed = values.map((value) => {
    const match = /^(\d+)(?:\.(\d+))?$/.exec(value);
    if (!match) throw new Error(`"${value}" is not a decimal quantity`);
    return { whole: match[1]!, fraction: match[2] ?? '' };
  });
  const scale = Math.max(0, ...parsed.map((p) => p.fraction.length));
  const total = parsed.reduce((sum, p) => sum + BigInt(p.whole + p.fraction.padEnd(scale, '0')), 0n);
  return canonical(total.toString().padStart(scale + 1, '0'), scale);
}

function canonical(digits: string, scale: number): string {
  const whole = digits.slice(0, digits.length - scale).replace(/^0+(?=\d)/, '');
  const fraction = digits.slice(digits.length - scale).replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : whole;
}

/** Compares a usage line with the records listed for it. */
export function verify(line: Line, records: readonly ListedRecord[]): Verdict {
  const problems: string[] = [];
  if (line.kind !== 'usage') problems.push(`line ${line.id} is a ${line.kind} line, not a usage line`);
  const keys = records.map((r) => r.idempotency_key);
  const repeated = keys.length - new Set(keys).size;
  if (repeated > 0) problems.push(`${repeated} idempotency key(s) appear more than once in the listing`);
  const foreign = records.filter(
    (r) =>
      (r.metric !== undefined && r.metric !== line.metric) ||
      (r.price_id !== undefined && r.price_id !== line.price_id),
  ).length;
  if (foreign > 0)
    problems.push(`${foreign} record(s) listed are of another metric or price than the line's`);
  const quantity = sumDecimals(records.map((r) => r.quantity));
  const digest = recordsDigest(keys);
  const rows = [
    {
      what: 'records',
      line: String(line.records),
      records: String(records.length),
      ok: line.records === records.length,
    },
    {
      what: 'quantity',
      line: String(line.quantity),
      records: quantity,
      ok: line.quantity !== null && sumDecimals([line.quantity]) === quantity,
    },
    {
      what: 'digest',
      line: String(line.records_digest),
      records: digest,
      ok: line.records_digest === digest,
    },
  ];
  if (line.records_digest === null) {
    problems.push(
      'the line has no records_digest (counted before digests existed): only count and sum are checked',
    );
  }
  const [count, sum, digestRow] = rows as [Verdict['rows'][0], Verdict['rows'][0], Verdict['rows'][0]];
  const ok =
    line.kind === 'usage' &&
    repeated === 0 &&
    foreign === 0 &&
    count.ok &&
    sum.ok &&
    (digestRow.ok || line.records_digest === null);
  return { ok, rows, problems };
}

/** The records of a saved listing: an array of records, one page, or an array of pages. */
export function recordsOf(saved: unknown): ListedRecord[] {
  const pages = Array.isArray(saved) ? saved : [saved];
  return pages.flatMap((page) =>
    page && typeof page === 'object' && 'data' in page ? (page as { data: ListedRecord[] }).data : [page],
  ) as ListedRecord[];
}

async function fetchJson(url: string, token: string): Promise<unknown> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } }).catch(
    (error: unknown) => {
      throw new Error(
        `GET ${url} failed (${(error as Error).message}): is the service running there, and is --api right?`,
      );
    },
  );
  const body = await response.text();
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${body}`);
  return JSON.parse(body);
}

const USAGE =
  'Usage: verify-usage-records --line <line id> (--api <base URL> --token <token> --invoice <id> | --invoice-file <invoice.json> --records-file <records.json>)';

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions();
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const token = values.token ?? process.env.BILLING_TOKEN;
  const online = values.api !== undefined && values.invoice !== undefined;
  const offline = values['invoice-file'] !== undefined && values['records-file'] !== undefined;
  if (!values.line || (!online && !offline) || (online && !token)) {
    console.error(USAGE);
    return 2;
  }
  let invoice: { id: string; lines: Line[] };
  let records: ListedRecord[];
  if (online) {
    const base = values.api!.replace(/\/$/, '');
    invoice = (await fetchJson(
      `${base}/invoices/${encodeURIComponent(values.invoice!)}`,
      token!,
    )) as typeof invoice;
    records = [];
    let cursor: string | null = null;
    do {
      const query = `limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await fetchJson(
        `${base}/invoices/${encodeURIComponent(invoice.id)}/lines/${encodeURIComponent(values.line)}/usage-records?${query}`,
        token!,
      )) as { data: ListedRecord[]; next_cursor: string | null };
      records.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
  } else {
    invoice = JSON.parse(readFileSync(values['invoice-file']!, 'utf8'));
    records = recordsOf(JSON.parse(readFileSync(values['records-file']!, 'utf8')));
  }
  const line = invoice.lines.find((candidate) => candidate.id === values.line);
  if (!line) {
    console.error(`Invoice ${invoice.id} has no line ${values.line}`);
    return 2;
  }
  const verdict = verify(line, records);
  console.log(`Line ${line.id} of invoice ${invoice.id}: ${line.metric} at price ${line.price_id}`);
  const width = Math.max(...verdict.rows.map((r) => r.line.length), 4);
  console.log(`  ${'what'.padEnd(8)}  ${'line'.padEnd(width)}  recomputed from the records`);
  for (const row of verdict.rows) {
    console.log(
      `  ${row.what.padEnd(8)}  ${row.line.padEnd(width)}  ${row.records}  ${row.ok ? 'ok' : 'MISMATCH'}`,
    );
  }
  for (const problem of verdict.problems) console.log(`  note: ${problem}`);
  console.log(
    verdict.ok
      ? `MATCH: the ${records.length} records listed are exactly the line's`
      : 'NO MATCH: the records listed are not what the line says',
  );
  return verdict.ok ? 0 : 1;
}

function parseOptions() {
  return parseArgs({
    options: {
      api: { type: 'string' },
      token: { type: 'string' },
      invoice: { type: 'string' },
      line: { type: 'string' },
      'invoice-file': { type: 'string' },
      'records-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(2);
    },
  );
}
