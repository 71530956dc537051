import { beforeAll, describe, expect, it } from 'vitest';
import { config } from '../../shared/config.ts';
import { closeDuePeriods } from '../../shared/use-cases/invoicing/close-periods.ts';
import { planWithPrices, subscribedCustomer } from '../support/catalog-setup.ts';
import { operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

let store: Awaited<ReturnType<typeof useTestStore>>;
const table = () => config().tableName;
const caller = (iso = '2026-03-01T00:00:00Z') => ({
  principal: operator(),
  requestId: 'req',
  now: new Date(iso),
});

beforeAll(async () => {
  store = await useTestStore();
});

describe('period close against DynamoDB Local', () => {
  it('closing a period twice, or from two runs at once, creates one invoice', async () => {
    const { plan } = await planWithPrices(table(), caller(), [{ model: 'flat', unit_amount: 1500 }]);
    const subscription = await subscribedCustomer(table(), caller(), [plan.id]);

    const closing = new Date('2026-04-01T00:00:01Z');
    const reports = await Promise.all([closeDuePeriods(table(), closing), closeDuePeriods(table(), closing)]);
    await closeDuePeriods(table(), closing);
    expect(reports.reduce((n, r) => n + r.invoices_created, 0)).toBe(1);

    const items = await store.allItems();
    const invoices = items
      .filter((i) => i.item_type === 'invoice' && i.subscription_id === subscription.id)
      .sort((a, b) => String(a.period_end).localeCompare(String(b.period_end)));
    // In advance (the default): March's fee at subscribe, April's with the close of March.
    expect(invoices.map((i) => [i.billing_reason, i.total, i.period_start, i.period_end])).toEqual([
      ['subscription_create', 1500, '2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
      ['subscription_cycle', 1500, '2026-03-01T00:00:00.000Z', '2026-04-01T00:00:00.000Z'],
    ]);
    const cycle = invoices[1] as { id: string; lines: { kind: string; period_start: string }[] };
    expect(cycle.lines.map((l) => [l.kind, l.period_start])).toEqual([
      ['subscription_fee', '2026-04-01T00:00:00.000Z'],
    ]);
    const stored = items.find((i) => i.item_type === 'subscription' && i.id === subscription.id);
    expect(stored).toMatchObject({
      version: 2,
      current_period_start: '2026-04-01T00:00:00.000Z',
      current_period_end: '2026-05-01T00:00:00.000Z',
    });
    const audits = items.filter((i) => i.item_type === 'audit' && i.entity_id === cycle.id);
    expect(audits.map((a) => a.action)).toEqual(['invoice.created']);
  });
});
