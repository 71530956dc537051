import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../shared/http/routes.ts';
import {
  callsWith,
  closePeriodsAt,
  createdOverHttp,
  oneOffBuyer,
  subscribeOverHttp,
} from '../support/http-fixtures.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';

/**
 * Credit notes over HTTP. Every expected amount is worked by hand from what the docs promise (a
 * credit gives back what the line billed, with the tax owed on what it gives back, rounded once per
 * rate; a line credited in full gives back exactly its tax), not from the code's formula.
 */
let service: TestService;
let operator: string;

beforeAll(async () => {
  ({ service, operator } = await startWithOperator());
});
afterAll(async () => service?.close());

const call = callsWith(
  () => service,
  () => operator,
);
const created = (path: string, body: unknown) => createdOverHttp(service, operator, path, body);
const credit = (invoiceId: string, body: unknown, headers?: Record<string, string>) =>
  call('POST', `/api/v1/invoices/${invoiceId}/credit-notes`, body, headers);

let productId: string;
let vat: { id: string };
let gst: { id: string };
let qst: { id: string };
beforeAll(async () => {
  productId = (await created('/api/v1/products', { name: 'Credit notes' })).id;
  vat = await created('/api/v1/tax-rates', { display_name: 'VAT', percentage: '19', inclusive: false });
  gst = await created('/api/v1/tax-rates', { display_name: 'GST', percentage: '5', inclusive: false });
  qst = await created('/api/v1/tax-rates', { display_name: 'QST', percentage: '9.975', inclusive: false });
});

const buyer = (name: string, unitAmount: number, taxRateIds: string[] = []) =>
  oneOffBuyer(service, operator, { name, unitAmount, taxRateIds, productId });

const balanceOf = async (customerId: string) =>
  (await call('GET', `/api/v1/customers/${customerId}`)).body.credit_balance;

describe('a partial credit note on an open invoice lowers what is due', () => {
  it('25.00 of a 100.00 line with 19 % VAT: 4.75 of tax back, 29.75 off the 119.00 due; the rest then pays it off', async () => {
    const { invoice } = await buyer('Partial Open', 10_000, [vat.id]);
    const open = await invoice();
    expect(open).toMatchObject({ status: 'open', total: 11_900, amount_due: 11_900 });
    const line = open.lines[0];

    const first = await credit(open.id, {
      reason: 'order_change',
      memo: 'One seat was never used',
      lines: [{ invoice_line_id: line.id, amount: 2_500 }],
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      invoice_id: open.id,
      invoice_number: open.number,
      reason: 'order_change',
      memo: 'One seat was never used',
      subtotal: 2_500,
      tax: 475,
      total: 2_975,
      total_excluding_tax: 2_500,
      pre_payment_amount: 2_975,
      post_payment_amount: 0,
      credit_amount: 0,
    });
    expect(first.body.number).toBe(`${open.number.replace(/-\d+$/, '')}-CN-0001`);
    expect(first.body.lines).toEqual([
      expect.objectContaining({
        invoice_line_id: line.id,
        amount: 2_500,
        taxes: [expect.objectContaining({ tax_rate_id: vat.id, amount: 475 })],
      }),
    ]);
    const after = (await call('GET', `/api/v1/invoices/${open.id}`)).body;
    expect(after).toMatchObject({
      status: 'open',
      total: 11_900,
      amount_due: 8_925,
      pre_payment_credit_notes_amount: 2_975,
      post_payment_credit_notes_amount: 0,
      credit_note_count: 1,
    });
    expect(after.lines[0]).toMatchObject({ credited_amount: 2_500, credited_taxes: [475] });

    // The whole invoice: everything not credited yet, 75.00 + the 14.25 of tax left: nothing left due.
    const rest = await credit(open.id, { reason: 'order_change' });
    expect(rest.status).toBe(201);
    expect(rest.body).toMatchObject({ subtotal: 7_500, tax: 1_425, total: 8_925, pre_payment_amount: 8_925 });
    expect(rest.body.number).toBe(`${open.number.replace(/-\d+$/, '')}-CN-0002`);
    const paid = (await call('GET', `/api/v1/invoices/${open.id}`)).body;
    expect(paid).toMatchObject({ status: 'paid', amount_due: 0, pre_payment_credit_notes_amount: 11_900 });
    // Credited in full, the line gave back exactly its tax.
    expect(paid.lines[0]).toMatchObject({ credited_amount: 10_000, credited_taxes: [1_900] });

    const more = await credit(open.id, { reason: 'duplicate' });
    expect(more.status).toBe(400);
    expect(more.body.errors[0]).toMatchObject({ field: 'lines' });
    const listed = await call('GET', `/api/v1/invoices/${open.id}/credit-notes`);
    expect(listed.body.data.map((note: { total: number }) => note.total)).toEqual([2_975, 8_925]);
    expect((await call('GET', `/api/v1/credit-notes/${first.body.id}`)).body).toEqual(first.body);
  });

  it('Quebec: 33.33 of a 100.00 line gives back GST 1.67 and QST 3.32 (each rate on the 33.33); the rest 3.33 and 6.66', async () => {
    const { invoice } = await buyer('Quebec Credit', 10_000, [gst.id, qst.id]);
    const open = await invoice();
    expect(open).toMatchObject({ tax: 1_498, total: 11_498 });
    const line = open.lines[0];
    const part = await credit(open.id, {
      reason: 'product_unsatisfactory',
      lines: [{ invoice_line_id: line.id, amount: 3_333 }],
    });
    expect(part.body.lines[0].taxes.map((t: { amount: number }) => t.amount)).toEqual([167, 332]);
    expect(part.body.total).toBe(3_333 + 167 + 332);
    const rest = await credit(open.id, {
      reason: 'product_unsatisfactory',
      lines: [{ invoice_line_id: line.id, amount: 6_667 }],
    });
    // 5.00 − 1.67 and 9.98 − 3.32: together exactly the invoice's taxes.
    expect(rest.body.lines[0].taxes.map((t: { amount: number }) => t.amount)).toEqual([333, 666]);
    expect(part.body.total + rest.body.total).toBe(11_498);
  });
});

describe('a credit note on a paid invoice goes to the credit balance', () => {
  it('one of three units of 10.00 paid: 10.00 to the balance, which the next invoice uses; a whole credit of that one gives it back', async () => {
    const { customer, invoice } = await buyer('Paid Credit', 1_000);
    const three = await invoice(3);
    expect(three.lines[0]).toMatchObject({ quantity: '3', amount: 3_000 });
    const paid = await call('POST', `/api/v1/invoices/${three.id}/pay`, { paid_out_of_band: true });
    expect(paid.body.status).toBe('paid');
    const note = await credit(three.id, {
      reason: 'product_unsatisfactory',
      lines: [{ invoice_line_id: three.lines[0].id, quantity: '1' }],
    });
    expect(note.status).toBe(201);
    expect(note.body).toMatchObject({
      total: 1_000,
      pre_payment_amount: 0,
      post_payment_amount: 1_000,
      credit_amount: 1_000,
      out_of_band_amount: 0,
    });
    expect(note.body.lines[0]).toMatchObject({ quantity: '1', amount: 1_000 });
    expect(await balanceOf(customer.id)).toEqual({ USD: 1_000 });
    const paidAfter = (await call('GET', `/api/v1/invoices/${three.id}`)).body;
    expect(paidAfter).toMatchObject({ status: 'paid', post_payment_credit_notes_amount: 1_000 });
    expect(paidAfter.lines[0]).toMatchObject({ credited_quantity: '1', credited_amount: 1_000 });
    // By amount after by quantity is refused (a line is credited one way).
    const mixed = await credit(three.id, {
      reason: 'duplicate',
      lines: [{ invoice_line_id: three.lines[0].id, amount: 100 }],
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body.errors[0].field).toBe('lines.0.amount');

    // 30.00 less the 10.00 of credit: 20.00 due. Crediting it whole takes the 20.00 off and gives the
    // 10.00 paid from the balance back to it.
    const next = await invoice(3);
    expect(next).toMatchObject({ total: 3_000, credit_applied: 1_000, amount_due: 2_000 });
    expect(await balanceOf(customer.id)).toEqual({ USD: 0 });
    const whole = await credit(next.id, { reason: 'duplicate' });
    expect(whole.body).toMatchObject({ total: 3_000, pre_payment_amount: 2_000, credit_amount: 1_000 });
    expect(await balanceOf(customer.id)).toEqual({ USD: 1_000 });
    expect((await call('GET', `/api/v1/invoices/${next.id}`)).body).toMatchObject({
      status: 'paid',
      amount_due: 0,
    });
  });

  it('out_of_band: recorded, the balance untouched', async () => {
    const { customer, invoice } = await buyer('Out Of Band', 5_000);
    const open = await invoice();
    await call('POST', `/api/v1/invoices/${open.id}/pay`, { paid_out_of_band: true });
    const note = await credit(open.id, { reason: 'duplicate', post_payment_to: 'out_of_band' });
    expect(note.body).toMatchObject({ total: 5_000, out_of_band_amount: 5_000, credit_amount: 0 });
    expect(await balanceOf(customer.id)).toEqual({});
  });
});

describe('what a credit note can give back', () => {
  it('a discounted line gives back what it billed after the discount (50.00 of 100.00 at 50 % off), not its list price', async () => {
    const half = await created('/api/v1/coupons', { name: 'Half', percent_off: '50', duration: 'forever' });
    const { customer, invoice } = await buyer('Discounted Credit', 10_000, [vat.id]);
    await call('POST', `/api/v1/customers/${customer.id}/discounts`, { coupon_id: half.id });
    const open = await invoice();
    expect(open).toMatchObject({ subtotal: 5_000, tax: 950, total: 5_950 });
    const tooMuch = await credit(open.id, {
      reason: 'order_change',
      lines: [{ invoice_line_id: open.lines[0].id, amount: 5_001 }],
    });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.errors[0]).toMatchObject({ field: 'lines.0.amount' });
    expect(tooMuch.body.errors[0].message).toContain('5000');
    const discountLine = await credit(open.id, {
      reason: 'order_change',
      lines: [{ invoice_line_id: open.lines[1].id, amount: 1 }],
    });
    expect(discountLine.body.errors[0]).toMatchObject({ field: 'lines.0.invoice_line_id' });
    const whole = await credit(open.id, { reason: 'order_change' });
    expect(whole.body).toMatchObject({ subtotal: 5_000, tax: 950, total: 5_950 });
  });

  it('refuses what it cannot apply, naming the field: no such line, a line twice, amount and quantity both, quantity on a line without one', async () => {
    const { invoice } = await buyer('Refusals', 2_000);
    const open = await invoice(2);
    const lineId = open.lines[0].id;
    const cases: [unknown, string][] = [
      [{ reason: 'duplicate', lines: [{ invoice_line_id: 'nope', amount: 1 }] }, 'lines.0.invoice_line_id'],
      [
        {
          reason: 'duplicate',
          lines: [
            { invoice_line_id: lineId, amount: 1 },
            { invoice_line_id: lineId, amount: 1 },
          ],
        },
        'lines.1.invoice_line_id',
      ],
      [
        { reason: 'duplicate', lines: [{ invoice_line_id: lineId, amount: 1, quantity: '1' }] },
        'lines.0.amount',
      ],
      [{ reason: 'duplicate', lines: [{ invoice_line_id: lineId, quantity: '3' }] }, 'lines.0.quantity'],
      [{ reason: 'duplicate', lines: [{ invoice_line_id: lineId, amount: 0 }] }, 'lines.0.amount'],
      [{ reason: 'because', lines: [{ invoice_line_id: lineId, amount: 1 }] }, 'reason'],
    ];
    for (const [body, field] of cases) {
      const answer = await credit(open.id, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(
        answer.body.errors.map((e: { field: string }) => e.field),
        JSON.stringify(body),
      ).toContain(field);
    }
    // Nothing was written by any of them.
    expect((await call('GET', `/api/v1/invoices/${open.id}`)).body).toMatchObject({
      amount_due: 4_000,
      credit_note_count: 0,
      version: open.version,
    });
  });

  it('a draft cannot be credited, and a credited invoice cannot be voided (409)', async () => {
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Draft Credit');
    await closePeriodsAt(service, new Date(new Date(subscription.current_period_end).getTime() + 1000));
    const drafts = await call('GET', `/api/v1/invoices?customer_id=${customer.id}&status=draft`);
    const draft = drafts.body.data[0];
    expect(draft.status).toBe('draft');
    const refused = await credit(draft.id, { reason: 'duplicate' });
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain('draft');
    const { invoice } = await buyer('Void Credited', 1_000);
    const open = await invoice();
    await credit(open.id, {
      reason: 'duplicate',
      lines: [{ invoice_line_id: open.lines[0].id, amount: 100 }],
    });
    const voided = await call('POST', `/api/v1/invoices/${open.id}/void`);
    expect(voided.status).toBe(409);
    expect(voided.body.detail).toContain('credit note');
  });
});

describe('credit notes are idempotent, gapless under concurrency, and for operators only', () => {
  it('a retried POST with the same Idempotency-Key returns the same note and credits nothing twice', async () => {
    const { invoice } = await buyer('Idempotent Credit', 1_000);
    const open = await invoice();
    const body = { reason: 'duplicate', lines: [{ invoice_line_id: open.lines[0].id, amount: 300 }] };
    const headers = { 'idempotency-key': 'credit-once' };
    const [a, b] = [await credit(open.id, body, headers), await credit(open.id, body, headers)];
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body).toEqual(a.body);
    expect((await call('GET', `/api/v1/invoices/${open.id}`)).body).toMatchObject({ amount_due: 700 });
  });

  it('two notes at once that together would credit more than the line: one is issued, the other refused; numbers stay gapless', async () => {
    const { invoice } = await buyer('Concurrent Credit', 10_000);
    const open = await invoice();
    const body = { reason: 'duplicate', lines: [{ invoice_line_id: open.lines[0].id, amount: 6_000 }] };
    const answers = await Promise.all([credit(open.id, body), credit(open.id, body)]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 400]);
    const third = await credit(open.id, {
      reason: 'duplicate',
      lines: [{ invoice_line_id: open.lines[0].id, amount: 4_000 }],
    });
    const numbers = (await call('GET', `/api/v1/invoices/${open.id}/credit-notes`)).body.data.map(
      (note: { number: string }) => note.number.slice(-4),
    );
    expect(third.status).toBe(201);
    expect(numbers).toEqual(['0001', '0002']);
    expect((await call('GET', `/api/v1/invoices/${open.id}`)).body).toMatchObject({
      status: 'paid',
      amount_due: 0,
    });
  });

  it("a tenant reads its own invoice's credit notes but cannot issue one; another tenant's are not found", async () => {
    const { customer, invoice } = await buyer('Tenant Credit', 1_000);
    const open = await invoice();
    const note = (
      await credit(open.id, {
        reason: 'duplicate',
        lines: [{ invoice_line_id: open.lines[0].id, amount: 10 }],
      })
    ).body;
    const own = await service.token([SCOPES.invoicesRead, SCOPES.invoicesWrite], { tenantId: customer.id });
    const other = await service.token([SCOPES.invoicesRead], { tenantId: 'someone-else' });
    expect((await service.call('GET', `/api/v1/credit-notes/${note.id}`, { token: own })).status).toBe(200);
    expect(
      (await service.call('GET', `/api/v1/invoices/${open.id}/credit-notes`, { token: own })).body.data,
    ).toHaveLength(1);
    const issued = await service.call('POST', `/api/v1/invoices/${open.id}/credit-notes`, {
      token: own,
      body: { reason: 'duplicate' },
    });
    expect(issued.status).toBe(403);
    expect((await service.call('GET', `/api/v1/credit-notes/${note.id}`, { token: other })).status).toBe(404);
    const trail = await call('GET', `/api/v1/audit/credit_note/${note.id}`);
    expect(trail.body.data.map((entry: { action: string }) => entry.action)).toEqual(['credit_note.issued']);
  });
});
