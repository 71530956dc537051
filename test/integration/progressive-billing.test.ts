import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import type { Invoice } from '../../shared/domain/invoice.ts';
import { dynamo } from '../../shared/store/client.ts';
import { InvoicesRepository } from '../../shared/store/invoices-repository.ts';
import { creditBalanceKey } from '../../shared/store/keys.ts';
import { createPlan, createPrice, createProduct } from '../../shared/use-cases/catalog.ts';
import { createCustomer } from '../../shared/use-cases/customers.ts';
import { changeInvoiceStatus } from '../../shared/use-cases/invoicing/change-invoice-status.ts';
import { closeDuePeriods } from '../../shared/use-cases/invoicing/close-periods.ts';
import { finalizeInvoice } from '../../shared/use-cases/invoicing/finalize-invoice.ts';
import { invoiceUsageThreshold } from '../../shared/use-cases/invoicing/invoice-usage-threshold.ts';
import { listInvoices } from '../../shared/use-cases/invoicing/invoices.ts';
import { createSubscription } from '../../shared/use-cases/subscriptions.ts';
import { ingestUsage } from '../../shared/use-cases/usage.ts';
import { customerInput, operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

/**
 * The threshold invoicer where it can go wrong: a void after the close credited the invoice, two
 * runs at once, a crash before settling. What is owed is stated independently: 1 cent per call.
 */
const table = () => config().tableName;
const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (ms: number) => ({ principal: operator(), requestId: `r${ms}`, now: new Date(T0 + ms) });
let planId: string;

beforeAll(async () => {
  await useTestStore();
  const product = await createProduct(table(), { name: 'Thresholds' }, at(0), undefined);
  const plan = await createPlan(
    table(),
    {
      product_id: product.id,
      name: 'Thresholds',
      currency: 'USD',
      interval: 'month',
      fee_timing: 'in_arrears',
      total_budget: 10_000_000,
      budget_policy: { enforcement: 'soft', thresholds: [], invoice_thresholds: [1_000, 5_000, 20_000] },
    },
    at(0),
    undefined,
  );
  planId = plan.id;
  await createPrice(
    table(),
    { plan_id: plan.id, model: 'per_unit', metric: 'calls', unit_amount_decimal: '1' },
    at(0),
    undefined,
  );
});

let keys = 0;
async function subscribed() {
  const customer = await createCustomer(table(), customerInput(), at(1000), undefined);
  const subscription = await createSubscription(
    table(),
    { customer_id: customer.id, plan_id: planId },
    at(1000),
    undefined,
  );
  const use = async (quantity: number, ms: number) => {
    const outcome = await ingestUsage(
      table(),
      {
        records: [
          {
            subscription_id: subscription.id,
            metric: 'calls',
            quantity,
            timestamp: new Date(T0 + ms).toISOString(),
            idempotency_key: `k${keys++}`,
          },
        ],
        batch: false,
      },
      at(ms),
    );
    expect(outcome.results[0]?.status).toBe('accepted');
  };
  const thresholdInvoices = async (): Promise<Invoice[]> =>
    (await listInvoices(table(), { customer_id: customer.id, limit: 100 }, operator())).data.filter(
      (i) => i.billing_reason === 'subscription_threshold',
    );
  return { customer, subscription, use, thresholdInvoices };
}

describe('the threshold invoicer under failure', () => {
  it('refuses to void a threshold invoice its period’s finalized invoice has credited', async () => {
    const s = await subscribed();
    await s.use(1_500, 2000);
    const made = await invoiceUsageThreshold(table(), s.subscription.id, at(3000));
    expect(made.outcome).toBe('invoiced');
    const end = Date.parse(s.subscription.current_period_end) - T0;
    await closeDuePeriods(table(), new Date(T0 + end + 1000));
    const closing = (
      await listInvoices(table(), { customer_id: s.customer.id, limit: 100 }, operator())
    ).data.find((i) => i.billing_reason === 'subscription_cycle')!;
    const finalized = await finalizeInvoice(table(), closing.id, at(end + 2000));
    expect(finalized.total).toBe(0); // 1500 of usage less the 1500 already invoiced
    const threshold = made.outcome === 'invoiced' ? made.invoice.id : '';
    await expect(changeInvoiceStatus(table(), threshold, 'void', at(end + 3000))).rejects.toThrow(
      new RegExp(`${closing.id} has credited`),
    );
    expect((await s.thresholdInvoices())[0]?.status).toBe('open');
  });

  it('two runs that read the same earlier invoices bill the usage once', async () => {
    const s = await subscribed();
    const proto = InvoicesRepository.prototype as unknown as {
      lastInvoiceNumber: (id: string) => Promise<number>;
    };
    const original = proto.lastInvoiceNumber;
    // Both runs stop just before numbering, after reading the period's threshold invoices.
    const gate = () => {
      let release!: () => void;
      let reached!: () => void;
      const opened = new Promise<void>((r) => (release = r));
      const hit = new Promise<void>((r) => (reached = r));
      return { release, reached, opened, hit };
    };
    const gates = [gate(), gate()];
    let calls = 0;
    proto.lastInvoiceNumber = async function (this: unknown, id: string) {
      const g = gates[calls++];
      if (g) {
        g.reached();
        await g.opened;
      }
      return original.call(this, id);
    };
    try {
      await s.use(1_100, 2000);
      const first = invoiceUsageThreshold(table(), s.subscription.id, at(3000));
      await gates[0]!.hit;
      await s.use(5_000, 4000);
      const second = invoiceUsageThreshold(table(), s.subscription.id, at(5000));
      await gates[1]!.hit;
      gates[0]!.release();
      await first;
      gates[1]!.release();
      await second;
    } finally {
      proto.lastInvoiceNumber = original;
    }
    const invoices = await s.thresholdInvoices();
    expect(invoices.map((i) => [i.usage_threshold, i.total]).sort()).toEqual([
      [1_000, 1_100],
      [5_000, 5_000],
    ]);
  });

  it('an invoice the credit balance paid, whose settling a crash cut off, is settled by the next run', async () => {
    const s = await subscribed();
    await dynamo().send(
      new PutCommand({
        TableName: table(),
        Item: {
          ...creditBalanceKey(s.customer.id, 'USD'),
          item_type: 'credit_balance',
          customer_id: s.customer.id,
          currency: 'USD',
          amount: 100_000,
          version: 1,
          updated_at: new Date(T0).toISOString(),
        },
      }),
    );
    await s.use(1_500, 2000);
    const client = dynamo() as unknown as {
      send: (command: unknown, ...rest: unknown[]) => Promise<unknown>;
    };
    const send = client.send.bind(client);
    let transactions = 0;
    client.send = async (command, ...rest) => {
      if ((command as object).constructor.name === 'TransactWriteCommand' && ++transactions === 2)
        throw new Error('crash before settling');
      return send(command, ...rest);
    };
    try {
      await expect(invoiceUsageThreshold(table(), s.subscription.id, at(3000))).rejects.toThrow('crash');
    } finally {
      client.send = send;
    }
    expect((await s.thresholdInvoices()).map((i) => [i.status, i.amount_due])).toEqual([['open', 0]]);
    await invoiceUsageThreshold(table(), s.subscription.id, at(4000));
    expect((await s.thresholdInvoices()).map((i) => [i.status, i.total])).toEqual([['paid', 1_500]]);
  });
});
