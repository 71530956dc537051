import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../shared/http/routes.ts';
import { startTestService, type TestService } from '../support/local-service.ts';

/**
 * Progressive billing over HTTP against `npm start`'s runtime: usage → budget projection →
 * `usage.threshold_reached` → the bus → the threshold invoicer, exactly as in AWS. What is owed is
 * stated independently: 1 cent per call, a $5 fee billed in arrears, so the period owes the calls sent
 * plus 500, split between the threshold invoices and the close, and no more.
 */
let service: TestService;
let operator: string;
// biome-ignore lint/suspicious/noExplicitAny: tests read bodies field by field
let plan: any;

type Line = { kind: string; amount: number; quantity: string | null; credited_invoice_id?: string };
type Invoice = {
  id: string;
  number: string;
  status: string;
  billing_reason: string;
  usage_threshold?: number;
  total: number;
  amount_due: number;
  period_start: string;
  lines: Line[];
};

const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
  const response = await service.call(method, path, {
    token: operator,
    ...(body === undefined ? {} : { body }),
  });
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
};

beforeAll(async () => {
  service = await startTestService();
  operator = await service.token(Object.values(SCOPES));
  const product = await call('POST', '/api/v1/products', { name: 'Progressive' });
  plan = await call('POST', '/api/v1/plans', {
    product_id: product.id,
    name: 'Progressive',
    currency: 'USD',
    interval: 'month',
    fee_timing: 'in_arrears',
    total_budget: 100_000,
    budget_policy: { enforcement: 'soft', thresholds: [], invoice_thresholds: [1_000, 5_000, 20_000] },
  });
  await call('POST', '/api/v1/prices', { plan_id: plan.id, model: 'flat', unit_amount: 500 });
  await call('POST', '/api/v1/prices', {
    plan_id: plan.id,
    model: 'per_unit',
    metric: 'calls',
    unit_amount_decimal: '1',
  });
});
afterAll(async () => service?.close());

async function subscribe(name: string) {
  const customer = await call('POST', '/api/v1/customers', { name, email: `${name}@example.com` });
  const subscription = await call('POST', '/api/v1/subscriptions', {
    customer_id: customer.id,
    plan_id: plan.id,
  });
  let sent = 0;
  const use = async (calls: number) => {
    await call('POST', '/api/v1/usage-records', {
      subscription_id: subscription.id,
      metric: 'calls',
      quantity: calls,
      idempotency_key: `${name}-${sent}`,
    });
    sent += calls;
    await service.settled();
  };
  const invoices = async (): Promise<Invoice[]> =>
    ((await call('GET', `/api/v1/invoices?customer_id=${customer.id}`)).data as Invoice[]).filter(
      (invoice) => invoice.billing_reason !== 'subscription_create',
    );
  const reached = async () =>
    (
      (await service.call('GET', '/_local/events')).body.events as {
        detail_type: string;
        detail: { data: { subscription_id: string; threshold: number } };
      }[]
    )
      .filter(
        (e) =>
          e.detail_type === 'usage.threshold_reached' && e.detail.data.subscription_id === subscription.id,
      )
      .map((e) => e.detail.data.threshold)
      .reverse();
  const close = async () => {
    const after = new Date(new Date(subscription.current_period_end).getTime() + 1000).toISOString();
    await call('POST', `/_local/close-periods?at=${after}`);
    const closing = (await invoices()).find((i) => i.billing_reason === 'subscription_cycle')!;
    return (await call('POST', `/api/v1/invoices/${closing.id}/finalize`)) as Invoice;
  };
  return { subscription, use, invoices, reached, close, sent: () => sent };
}

const usageOf = (invoice: Invoice) =>
  invoice.lines.filter((l) => l.kind === 'threshold_usage').reduce((sum, l) => sum + l.amount, 0);

describe('progressive billing: usage invoiced when it passes a threshold, the close bills only the rest', () => {
  it('invoices each threshold once, at what the usage so far adds, and the close credits them', async () => {
    const s = await subscribe('progressive');
    await s.use(999);
    expect(await s.invoices()).toEqual([]);
    expect(await s.reached()).toEqual([]);

    await s.use(101); // 1100 cents: past 1000
    expect(await s.reached()).toEqual([1_000]);
    const [first] = await s.invoices();
    expect(first).toMatchObject({
      billing_reason: 'subscription_threshold',
      usage_threshold: 1_000,
      status: 'open',
      total: 1_100,
      amount_due: 1_100,
      period_start: s.subscription.current_period_start,
    });
    expect(first!.number).toMatch(/-0001$/);
    expect(first!.lines.map((l) => [l.kind, l.quantity, l.amount])).toEqual([
      ['threshold_usage', '1100', 1_100],
    ]);

    await s.use(50); // still under 5000: nothing more
    expect(await s.invoices()).toHaveLength(1);

    // One jump past 5000 and 20000: one invoice, for the highest, billing only what was added.
    await s.use(24_000);
    expect(await s.reached()).toEqual([1_000, 20_000]);
    const thresholdInvoices = (await s.invoices()).filter(
      (i) => i.billing_reason === 'subscription_threshold',
    );
    expect(thresholdInvoices.map((i) => [i.usage_threshold, i.total]).sort()).toEqual([
      [1_000, 1_100],
      [20_000, 24_050],
    ]);

    await s.use(7); // after the last threshold: billed by the close
    const closing = await s.close();
    const usage = closing.lines.find((l) => l.kind === 'usage')!;
    expect(usage.quantity).toBe(String(s.sent()));
    const credits = closing.lines.filter((l) => l.kind === 'threshold_credit');
    expect(credits.map((l) => [l.credited_invoice_id, l.amount]).sort()).toEqual(
      thresholdInvoices.map((i) => [i.id, -i.total]).sort(),
    );
    // The independent statement: the period owes every call at 1 cent plus the $5 fee, once.
    const billed = thresholdInvoices.reduce((sum, i) => sum + i.total, 0) + closing.total;
    expect(billed).toBe(s.sent() + 500);
    expect(closing.total).toBe(7 + 500);
  });

  it('a threshold invoice voided before the close is billed again by the close', async () => {
    const s = await subscribe('voided');
    await s.use(1_500);
    const [threshold] = await s.invoices();
    expect(threshold).toMatchObject({ billing_reason: 'subscription_threshold', total: 1_500 });
    await call('POST', `/api/v1/invoices/${threshold!.id}/void`);
    await s.use(500); // 2000 in all; 1000 was invoiced (voided): no new threshold is passed
    expect((await s.invoices()).filter((i) => i.billing_reason === 'subscription_threshold')).toHaveLength(1);
    const closing = await s.close();
    expect(closing.lines.filter((l) => l.kind === 'threshold_credit')).toEqual([]);
    expect(closing.total).toBe(2_000 + 500);
  });

  it('usage invoiced mid-period is never billed again after the period rolls', async () => {
    const s = await subscribe('rolled');
    await s.use(6_000);
    const closing = await s.close();
    const threshold = (await s.invoices()).find((i) => i.billing_reason === 'subscription_threshold')!;
    expect(usageOf(threshold)).toBe(6_000);
    expect(closing.total).toBe(500);
    // The next period starts with nothing invoiced: its first threshold bills only its own usage.
    await s.use(1_200);
    const next = (await s.invoices()).filter(
      (i) => i.billing_reason === 'subscription_threshold' && i.id !== threshold.id,
    );
    expect(next.map((i) => [i.usage_threshold, i.total])).toEqual([[1_000, 1_200]]);
  });
});
