import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../shared/http/routes.ts';
import { startTestService, type TestService } from '../support/local-service.ts';

let service: TestService;
let operator: string;
let gateway: string;

beforeAll(async () => {
  service = await startTestService();
  operator = await service.token(Object.values(SCOPES));
  gateway = await service.token([SCOPES.usageCreate]);
});
afterAll(async () => service?.close());

/** A subscription on a plan with a $10 flat fee and attestations at 0.5 cents each. */
async function subscription() {
  const post = async (path: string, body: unknown) => {
    const response = await service.call('POST', path, { token: operator, body });
    expect(response.status, `${path}: ${JSON.stringify(response.body)}`).toBe(201);
    return response.body;
  };
  const product = await post('/api/v1/products', { name: 'Metered' });
  const plan = await post('/api/v1/plans', {
    product_id: product.id,
    name: 'Metered',
    currency: 'USD',
    interval: 'month',
    total_budget: 100_000,
  });
  await post('/api/v1/prices', { plan_id: plan.id, model: 'flat', unit_amount: 1000 });
  await post('/api/v1/prices', {
    plan_id: plan.id,
    model: 'per_unit',
    metric: 'attestations',
    unit_amount_decimal: '0.5',
  });
  const customer = await post('/api/v1/customers', { name: 'Usage Co', email: 'usage@example.com' });
  const sub = await post('/api/v1/subscriptions', { customer_id: customer.id, plan_id: plan.id });
  return sub.id as string;
}

const usage = async (id: string) => {
  const response = await service.call('GET', `/api/v1/subscriptions/${id}/usage`, { token: operator });
  expect(response.status).toBe(200);
  return response.body.metrics as { metric: string; quantity: string; records: number; amount: number }[];
};

const record = (subscription_id: string, key: string, quantity: number | string = 1, extra: object = {}) => ({
  subscription_id,
  idempotency_key: key,
  metric: 'attestations',
  quantity,
  ...extra,
});

describe('usage records over HTTP', () => {
  it('a record is counted once however often it is sent', async () => {
    const id = await subscription();
    const first = await service.call('POST', '/api/v1/usage-records', {
      token: gateway,
      body: record(id, 'k-1', 3),
    });
    expect(first).toMatchObject({ status: 201, body: { accepted: 1, results: [{ status: 'accepted' }] } });
    const again = await service.call('POST', '/api/v1/usage-records', {
      token: gateway,
      body: record(id, 'k-1', 3),
    });
    expect(again).toMatchObject({ status: 200, body: { duplicates: 1, results: [{ status: 'duplicate' }] } });
    expect(await usage(id)).toEqual([
      expect.objectContaining({ metric: 'attestations', quantity: '3', records: 1, amount: 2 }),
    ]);
  });

  it('a batch reports each bad record by index and counts the good ones', async () => {
    const id = await subscription();
    const future = new Date(Date.now() + 60 * 60 * 1000).toISOString();
    const response = await service.call('POST', '/api/v1/usage-records', {
      token: gateway,
      body: {
        records: [
          record(id, 'b-0', 2),
          record(id, 'b-1', -1),
          record(id, 'b-2', 1, { metric: 'unknown_metric' }),
          record(id, 'b-3', 1, { timestamp: future }),
          record('no-such-subscription', 'b-4'),
          record(id, 'b-5', '2.25'),
          record(id, 'b-0', 2),
          { ...record(id, 'b-7'), colour: 'red' },
          record(id, 'b-8', 'NaN'),
        ],
      },
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ accepted: 2, duplicates: 1, rejected: 6 });
    const byIndex = response.body.results as { status: string; error?: { errors: { field: string }[] } }[];
    expect(byIndex.map((r) => r.status)).toEqual([
      'accepted',
      'rejected',
      'rejected',
      'rejected',
      'rejected',
      'accepted',
      'duplicate',
      'rejected',
      'rejected',
    ]);
    const fields = byIndex.map((r) => r.error?.errors.map((e) => e.field));
    expect(fields[1]).toEqual(['records.1.quantity']);
    expect(fields[2]).toEqual(['records.2.metric']);
    expect(fields[3]).toEqual(['records.3.timestamp']);
    expect(fields[4]).toEqual(['records.4.subscription_id']);
    expect(fields[7]).toEqual(['records.7.colour']);
    expect(fields[8]).toEqual(['records.8.quantity']);
    expect(await usage(id)).toEqual([expect.objectContaining({ quantity: '4.25', records: 2 })]);
  });

  it('every invalid single record is a 4xx problem naming the field and changes nothing', async () => {
    const id = await subscription();
    const cases: [unknown, number, string][] = [
      [record(id, 's-1', -5), 400, 'quantity'],
      [record(id, 's-2', 1, { metric: 'nope' }), 422, 'metric'],
      [
        record(id, 's-3', 1, { timestamp: new Date(Date.now() + 86_400_000).toISOString() }),
        422,
        'timestamp',
      ],
      [record(id, 's-4', 1, { timestamp: '2020-01-01T00:00:00Z' }), 422, 'timestamp'],
      [record('missing', 's-5'), 404, 'subscription_id'],
      [record(id, 's-6', '1e3'), 400, 'quantity'],
      [{ ...record(id, 's-7'), idempotency_key: undefined }, 400, 'idempotency_key'],
      [{ records: [] }, 400, 'records'],
    ];
    for (const [body, status, field] of cases) {
      const response = await service.call('POST', '/api/v1/usage-records', { token: gateway, body });
      expect(response.status, JSON.stringify(body)).toBe(status);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.body.errors.map((e: { field: string }) => e.field).join()).toContain(field);
    }
    expect(await usage(id)).toEqual([]);
  });

  it('a canceled subscription takes no new usage', async () => {
    const id = await subscription();
    await service.call('PATCH', `/api/v1/subscriptions/${id}`, {
      token: operator,
      body: { cancel_now: true },
    });
    const response = await service.call('POST', '/api/v1/usage-records', {
      token: gateway,
      body: record(id, 'c-1'),
    });
    expect(response).toMatchObject({ status: 409, body: { errors: [{ field: 'subscription_id' }] } });
  });

  it('the SmartGateway reports through the IAM route too (a dev token locally)', async () => {
    const id = await subscription();
    const response = await service.call('POST', '/internal/v1/usage-records', {
      token: gateway,
      body: record(id, 'iam-1', 7),
    });
    expect(response.status).toBe(201);
    expect(await usage(id)).toEqual([expect.objectContaining({ quantity: '7' })]);
  });

  it('concurrent clients re-sending records on other connections: totals exact, spend on the budget row', async () => {
    const id = await subscription();
    const keys = Array.from({ length: 600 }, (_, i) => `conc-${i}`);
    const quantityOf = (i: number) => (i % 7) + 1;
    // 6 clients; each sends its 100 keys in batches of 25, plus a re-send of 30% of another client's keys.
    const clients = Array.from({ length: 6 }, (_, c) => {
      const own = keys.slice(c * 100, (c + 1) * 100);
      const other = keys.slice(((c + 1) % 6) * 100, ((c + 1) % 6) * 100 + 30);
      const mine = [...own, ...other];
      return async () => {
        for (let i = 0; i < mine.length; i += 25) {
          const records = mine
            .slice(i, i + 25)
            .map((key) => record(id, key, quantityOf(Number(key.split('-')[1]))));
          const response = await service.call('POST', '/api/v1/usage-records', {
            token: gateway,
            body: { records },
          });
          expect(response.status).toBe(200);
          expect(response.body.rejected).toBe(0);
        }
      };
    });
    await Promise.all(clients.map((run) => run()));
    const expected = keys.reduce((sum, key) => sum + quantityOf(Number(key.split('-')[1])), 0);
    expect(await usage(id)).toEqual([expect.objectContaining({ quantity: String(expected), records: 600 })]);

    await service.settled();
    const { body } = await service.call('GET', '/_local/budgets');
    const row = (body.items as { subscription_id: string; current_spend: number }[]).find(
      (r) => r.subscription_id === id,
    );
    // 0.5 cents per attestation, rated once over the exact total.
    expect(row?.current_spend).toBe(Math.round(expected / 2));
  });
});
