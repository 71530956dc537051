import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePeriodsAt, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';

/**
 * Found from outside: POST /invoices/{id}/pay and /finalize ignored Idempotency-Key, so a client
 * whose response was lost retried with the same key and got 409 instead of the first answer.
 * SPEC: the header works on every POST.
 */
let service: TestService;
let operator: string;

beforeAll(async () => {
  ({ service, operator } = await startWithOperator());
});
afterAll(async () => service?.close());

const post = (path: string, key: string | undefined, body?: unknown) =>
  service.call('POST', path, {
    token: operator,
    ...(body === undefined ? {} : { body }),
    ...(key ? { headers: { 'idempotency-key': key } } : {}),
  });

/** A subscription whose first period was closed: its draft invoice's id. */
async function draftInvoice(name: string): Promise<string> {
  const { customer, subscription } = await subscribeOverHttp(service, operator, name);
  await closePeriodsAt(service, new Date(new Date(subscription.current_period_end).getTime() + 1000));
  const list = await service.call('GET', `/api/v1/invoices?customer_id=${customer.id}&status=draft`, {
    token: operator,
  });
  expect(list.body.data).toHaveLength(1);
  return list.body.data[0].id;
}

const paymentsOf = async (invoiceId: string) =>
  (await service.billingItems()).filter(
    (item) => item.item_type === 'payment' && item.invoice_id === invoiceId,
  );

describe('Idempotency-Key on the invoice actions', () => {
  it('finalize, pay and void replay their first answer to a retry with the same key', async () => {
    const id = await draftInvoice('Replay');
    const finalized = await post(`/api/v1/invoices/${id}/finalize`, 'fin-1');
    expect(finalized.status).toBe(200);
    expect(finalized.body.status).toBe('open');
    const again = await post(`/api/v1/invoices/${id}/finalize`, 'fin-1');
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(finalized.body);
    // Without the key the same request is a new one: the invoice is no longer a draft.
    expect((await post(`/api/v1/invoices/${id}/finalize`, undefined)).status).toBe(409);

    const paid = await post(`/api/v1/invoices/${id}/pay`, 'pay-1', { paid_out_of_band: true });
    expect(paid.status).toBe(200);
    expect(paid.body.status).toBe('paid');
    const replayed = await post(`/api/v1/invoices/${id}/pay`, 'pay-1', { paid_out_of_band: true });
    expect(replayed.status).toBe(200);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.body).toEqual(paid.body);
    // The same key with another body is refused, naming the key; a new key is a new payment: 409.
    const reused = await post(`/api/v1/invoices/${id}/pay`, 'pay-1', {});
    expect(reused.status).toBe(409);
    expect(reused.body.type).toMatch(/idempotency-key-reused/);
    expect(reused.body.detail).toMatch(/Idempotency-Key/);
    expect((await post(`/api/v1/invoices/${id}/pay`, 'pay-2', { paid_out_of_band: true })).status).toBe(409);
    expect(await paymentsOf(id)).toHaveLength(1);

    const other = await draftInvoice('Replay void');
    const voided = await post(`/api/v1/invoices/${other}/void`, 'void-1');
    expect(voided.body.status).toBe('void');
    expect(await post(`/api/v1/invoices/${other}/void`, 'void-1')).toMatchObject({
      status: 200,
      body: voided.body,
    });
  });

  it('parallel retries of one pay with one key all get the one payment', async () => {
    const id = await draftInvoice('Parallel pay');
    expect((await post(`/api/v1/invoices/${id}/finalize`, 'fin-p')).status).toBe(200);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        post(`/api/v1/invoices/${id}/pay`, 'pay-p', { paid_out_of_band: true }),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(200));
    expect(new Set(answers.map((answer) => answer.body.version)).size).toBe(1);
    expect(answers.every((answer) => answer.body.status === 'paid')).toBe(true);
    expect(await paymentsOf(id)).toHaveLength(1);
  });
});
