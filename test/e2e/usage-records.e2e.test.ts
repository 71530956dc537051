import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../shared/http/routes.ts';
import { closePeriodsAt, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startTestService, type TestService } from '../support/local-service.ts';
import { REPO_ROOT } from '../support/service-process.ts';
import { statedDigest } from '../support/stated-digest.ts';

let service: TestService;
let operator: string;

beforeAll(async () => {
  service = await startTestService();
  operator = await service.token(Object.values(SCOPES));
});
afterAll(async () => service?.close());

const TSX_CLI = join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs');

/** The verifier as a customer runs it (`npx tsx ops/verify-usage-records.ts …`): exit code and output. */
async function verifier(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [TSX_CLI, 'ops/verify-usage-records.ts', ...args],
      { cwd: REPO_ROOT },
    );
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

describe('a finalized usage line, traced to its records through the running service', () => {
  it("the customer's verifier recomputes count, sum and digest from the listing and finds the line's", async () => {
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Traced');
    const gateway = await service.token([SCOPES.usageCreate]);
    const records = Array.from({ length: 230 }, (_, i) => ({
      subscription_id: subscription.id,
      metric: 'calls',
      quantity: i % 4 === 0 ? `${i}.125` : i,
      idempotency_key: `gw-${String(i).padStart(4, '0')}`,
    }));
    const send = (batch: unknown[]) =>
      service.call('POST', '/api/v1/usage-records', { token: gateway, body: { records: batch } });
    // Two batches at once, overlapping (racing copies), then everything again (a retry): counted once.
    const sent = await Promise.all([send(records.slice(0, 150)), send(records.slice(100))]);
    expect(sent.map((r) => r.status)).toEqual([200, 200]);
    expect((await send(records.slice(0, 1000))).body.accepted).toBe(0);

    await closePeriodsAt(service, new Date(new Date(subscription.current_period_end).getTime() + 1000));
    const drafts = await service.call('GET', `/api/v1/invoices?customer_id=${customer.id}&status=draft`, {
      token: operator,
    });
    const invoiceId = drafts.body.data[0].id as string;
    const finalized = await service.call('POST', `/api/v1/invoices/${invoiceId}/finalize`, {
      token: operator,
    });
    expect(finalized.status).toBe(200);
    const line = finalized.body.lines.find((l: { kind: string }) => l.kind === 'usage');
    expect(line).toMatchObject({
      records: 230,
      records_digest: statedDigest(records.map((r) => r.idempotency_key)),
    });

    // A tenant's own token is enough: the customer checks its invoice without an operator.
    const tenant = await service.token([SCOPES.invoicesRead], { tenantId: customer.id });
    const online = await verifier([
      '--api',
      `${service.url}/api/v1`,
      '--token',
      tenant,
      '--invoice',
      invoiceId,
      '--line',
      line.id,
    ]);
    expect(online.output).toContain('MATCH: the 230 records listed are exactly the line');
    expect(online.code).toBe(0);

    // A saved listing with one record left out (or a quantity changed) is caught.
    const listing = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: unknown[]; next_cursor: string | null } } = await service.call(
        'GET',
        `/api/v1/invoices/${invoiceId}/lines/${line.id}/usage-records?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        { token: tenant },
      );
      listing.push(page.body);
      cursor = page.body.next_cursor;
    } while (cursor);
    const folder = mkdtempSync(join(tmpdir(), 'verify-'));
    const save = (name: string, value: unknown) => {
      writeFileSync(join(folder, name), JSON.stringify(value));
      return join(folder, name);
    };
    const invoiceFile = save('invoice.json', finalized.body);
    const offline = (recordsFile: string) =>
      verifier(['--invoice-file', invoiceFile, '--line', line.id, '--records-file', recordsFile]);
    expect((await offline(save('all.json', listing))).code).toBe(0);
    const all = listing.flatMap((page) => page.data as { idempotency_key: string; quantity: string }[]);
    const short = await offline(save('short.json', all.slice(1)));
    expect(short.code).toBe(1);
    expect(short.output).toContain('NO MATCH');
    const swapped = all.map((r, i) => (i === 0 ? { ...r, quantity: `${r.quantity}1` } : r));
    const tampered = await offline(save('tampered.json', swapped));
    expect(tampered.code).toBe(1);
    expect(tampered.output).toMatch(/quantity .* MISMATCH/);
    // A record of another metric is not the line's, whatever its key and quantity.
    const foreign = all.map((r, i) => (i === 0 ? { ...r, metric: 'not-this-line' } : r));
    const moved = await offline(save('foreign.json', foreign));
    expect(moved.code).toBe(1);
    expect(moved.output).toMatch(/another metric or price/);
    expect((await verifier(['--help'])).code).toBe(0);
  }, 120_000);

  it("another tenant's line and subscription records are 404s; the subscription's own records list", async () => {
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Listed');
    await service.call('POST', '/api/v1/usage-records', {
      token: operator,
      body: { subscription_id: subscription.id, metric: 'calls', quantity: 4, idempotency_key: 'l-1' },
    });
    const own = await service.token([SCOPES.usageRead], { tenantId: customer.id });
    const other = await service.token([SCOPES.usageRead], { tenantId: 'cus_someone_else' });
    const path = `/api/v1/subscriptions/${subscription.id}/usage-records?metric=calls`;
    const listed = await service.call('GET', path, { token: own });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({
      data: [expect.objectContaining({ idempotency_key: 'l-1', quantity: '4', metric: 'calls' })],
      next_cursor: null,
    });
    expect((await service.call('GET', path, { token: other })).status).toBe(404);
  });
});
