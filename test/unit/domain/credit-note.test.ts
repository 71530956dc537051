import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CreditNoteRequest, creditNoteOf } from '../../../shared/domain/credit-note.ts';
import { DomainError } from '../../../shared/domain/errors.ts';
import { type Invoice, type InvoiceLine, totalsOf, withLineIds } from '../../../shared/domain/invoice.ts';
import { taxedInvoice } from '../../../shared/domain/invoice-tax.ts';
import type { TaxRate } from '../../../shared/domain/tax.ts';
import { openInvoiceFixture } from '../../support/fixtures.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 200);

const chargeLine = (amount: number, kind: InvoiceLine['kind'] = 'one_time') => ({
  kind,
  description: kind,
  quantity: kind === 'one_time' ? '4' : null,
  price_id: null,
  metric: null,
  amount,
  plan_id: null,
  period_start: '2026-01-01T00:00:00.000Z',
  period_end: '2026-01-01T00:00:00.000Z',
  pending_item_id: null,
  records: null,
  records_digest: null,
  records_kept_until: null,
});

const rate = (id: string, percentage: string, inclusive: boolean): TaxRate => ({
  id,
  display_name: id,
  jurisdiction: null,
  percentage,
  inclusive,
});

/** An open invoice of these lines, taxed at `rates` (every charge line discountable). */
function openInvoice(lines: ReturnType<typeof chargeLine>[], rates: TaxRate[]): Invoice {
  const taxed = taxedInvoice(withLineIds('in_cn', lines), rates);
  return openInvoiceFixture({
    id: 'in_cn',
    number: 'ABCD-0001',
    ...totalsOf(taxed.lines),
    ...taxed,
    amount_due: Math.max(taxed.total, 0),
  });
}

const all = () => true;

/**
 * The tax rule as the docs state it for rates added on top, restated here: each rate's tax is the
 * amount × percentage / 100, rounded once to the nearest minor unit, halves away from zero.
 */
const exclusiveTax = (amount: number, percentage: string): number => {
  const [whole, fraction = ''] = percentage.split('.');
  const scaled = BigInt(whole! + fraction.padEnd(4, '0')); // percentage × 10^4
  const exact2 = 2n * BigInt(amount) * scaled; // 2 × amount × p × 10^4
  const denominator = 100n * 10_000n;
  return Number((exact2 + denominator) / (2n * denominator));
};

describe('credit notes, stated from the rule (docs/invoicing.md, "Credit notes")', () => {
  it('a published-style example: 100.00 + 19 % VAT, credit 25.00 then the rest: 29.75 then 89.25, 119.00 in all', () => {
    const invoice = openInvoice([chargeLine(10_000)], [rate('vat', '19', false)]);
    const line = invoice.lines[0]!;
    const first = creditNoteOf(
      invoice,
      { reason: 'duplicate', lines: [{ invoice_line_id: line.id, amount: 2_500 }] },
      all,
    );
    expect(first.figures).toMatchObject({
      subtotal: 2_500,
      tax: 475,
      total: 2_975,
      pre_payment_amount: 2_975,
    });
    const rest = creditNoteOf(first.invoice, { reason: 'duplicate' }, all);
    expect(rest.figures).toMatchObject({ subtotal: 7_500, tax: 1_425, total: 8_925 });
    expect(rest.invoice.amount_due).toBe(0);
  });

  it('a quantity credit of one of four units gives back a quarter of what the line billed, rounded once', () => {
    const invoice = openInvoice([chargeLine(1_001)], []);
    const line = invoice.lines[0]!;
    const one = creditNoteOf(
      invoice,
      { reason: 'duplicate', lines: [{ invoice_line_id: line.id, quantity: '1' }] },
      all,
    );
    // 10.01 / 4 = 2.5025 → 2.50; three more units then give back exactly the 7.51 left.
    expect(one.figures.total).toBe(250);
    const three = creditNoteOf(
      one.invoice,
      { reason: 'duplicate', lines: [{ invoice_line_id: line.id, quantity: '3' }] },
      all,
    );
    expect(three.figures.total).toBe(751);
    expect(() =>
      creditNoteOf(
        three.invoice,
        { reason: 'duplicate', lines: [{ invoice_line_id: line.id, quantity: '0.5' }] },
        all,
      ),
    ).toThrow(/left to credit/);
  });

  const percentage = fc.integer({ min: 0, max: 300_000 }).map(
    (units) =>
      `${Math.floor(units / 10_000)}${
        units % 10_000
          ? `.${String(units % 10_000)
              .padStart(4, '0')
              .replace(/0+$/, '')}`
          : ''
      }`,
  );
  const scenario = fc.record({
    amounts: fc.array(fc.integer({ min: 1, max: 2_000_000 }), { minLength: 1, maxLength: 4 }),
    proration: fc.option(fc.integer({ min: 1, max: 500 }), { nil: undefined }),
    rates: fc.oneof(
      fc.constant([] as TaxRate[]),
      fc
        .array(percentage, { minLength: 1, maxLength: 2 })
        .map((ps) => ps.map((p, i) => rate(`r${i}`, p, false))),
      fc
        .array(percentage, { minLength: 1, maxLength: 2 })
        .map((ps) => ps.map((p, i) => rate(`inc${i}`, p, true))),
    ),
    // Paid, or open with part of it paid from the credit balance (creditApplied of its total).
    paid: fc.boolean(),
    creditApplied: fc.double({ min: 0, max: 1, noNaN: true }),
    notes: fc.array(
      fc.record({
        line: fc.nat(),
        // Mostly small parts, so lines are credited several times before they are used up.
        fraction: fc.oneof(
          { arbitrary: fc.double({ min: 0, max: 0.4, noNaN: true }), weight: 4 },
          { arbitrary: fc.double({ min: 0, max: 1.2, noNaN: true }), weight: 1 },
        ),
        whole: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
      }),
      { minLength: 1, maxLength: 6 },
    ),
  });

  it('never gives back more than a line billed or the invoice’s total; crediting everything gives back exactly the total, and each line its taxes', () => {
    fc.assert(
      fc.property(scenario, ({ amounts, proration, rates, paid, creditApplied, notes }) => {
        const lines = [
          ...amounts.map((amount) => chargeLine(amount)),
          ...(proration ? [chargeLine(-proration, 'threshold_credit')] : []),
        ];
        let invoice = openInvoice(lines, rates);
        fc.pre(invoice.total > 0);
        const applied = Math.floor(invoice.total * creditApplied);
        invoice = paid
          ? { ...invoice, status: 'paid', amount_paid: invoice.amount_due }
          : { ...invoice, credit_applied: applied, amount_due: invoice.total - applied };
        const billedTotal = invoice.total;
        let given = 0;
        const credited = new Map<string, number>();
        const charges = invoice.lines.filter((line) => line.amount > 0);
        for (const note of notes) {
          const target = charges[note.line % charges.length]!;
          const left = target.amount - (credited.get(target.id) ?? 0);
          const amount = Math.floor(left * note.fraction);
          const request: CreditNoteRequest = note.whole
            ? { reason: 'order_change' }
            : { reason: 'order_change', lines: [{ invoice_line_id: target.id, amount }] };
          let result: ReturnType<typeof creditNoteOf>;
          try {
            result = creditNoteOf(invoice, request, all);
          } catch (error) {
            expect(error).toBeInstanceOf(DomainError);
            // Refused only for a reason the rule gives: nothing to give, more than the line has
            // left, or more than the invoice has left to credit.
            const overLine = !note.whole && (amount > left || amount < 1);
            const nothingLeft = given >= billedTotal;
            if (!overLine && !nothingLeft) {
              expect((error as Error).message).toMatch(/left to credit|give back/);
            }
            continue;
          }
          const { figures } = result;
          // The note's own figures add up.
          const exclusive = figures.lines
            .flatMap((line) => line.taxes)
            .filter((tax) => !tax.inclusive)
            .reduce((sum, tax) => sum + tax.amount, 0);
          expect(figures.total).toBe(figures.subtotal + exclusive);
          // First off what is still due (nothing, once paid); the rest to the credit balance.
          const due = invoice.status === 'paid' ? 0 : invoice.amount_due;
          expect(figures.pre_payment_amount).toBe(Math.min(figures.total, due));
          expect(figures.post_payment_amount).toBe(figures.total - Math.min(figures.total, due));
          expect(figures.credit_amount).toBe(figures.post_payment_amount);
          expect(result.invoice.amount_due).toBe(invoice.amount_due - figures.pre_payment_amount);
          // Exclusive rates: each line's tax back is the rule's tax on all it has given back,
          // less what earlier notes gave back (so within a unit of the tax on this note's amount).
          for (const noteLine of figures.lines) {
            const before = credited.get(noteLine.invoice_line_id) ?? 0;
            const after = before + noteLine.amount;
            for (const tax of noteLine.taxes.filter((t) => !t.inclusive)) {
              const expected =
                exclusiveTax(Math.abs(after), tax.percentage) -
                exclusiveTax(Math.abs(before), tax.percentage);
              expect(Math.abs(tax.amount)).toBe(expected);
            }
            credited.set(noteLine.invoice_line_id, after);
          }
          given += figures.total;
          expect(given).toBeLessThanOrEqual(billedTotal);
          for (const line of result.invoice.lines) {
            expect(Math.abs(line.credited_amount ?? 0)).toBeLessThanOrEqual(Math.abs(line.amount));
            // Rate by rate, never more back than the rate charged on the line.
            line.taxes.forEach((tax, i) => {
              expect(Math.abs(line.credited_taxes?.[i] ?? 0)).toBeLessThanOrEqual(Math.abs(tax.amount));
            });
          }
          // And no rate's part of a note goes the wrong way.
          for (const noteLine of figures.lines)
            for (const tax of noteLine.taxes)
              expect(Math.sign(tax.amount) * Math.sign(noteLine.amount)).not.toBe(-1);
          invoice = result.invoice;
        }
        // Credit whatever is left: the notes together gave back exactly the invoice's total.
        if (given === billedTotal) return;
        const last = creditNoteOf(invoice, { reason: 'order_change' }, all);
        given += last.figures.total;
        invoice = last.invoice;
        expect(given).toBe(billedTotal);
        if (!paid) expect(invoice.amount_due).toBe(0);
        for (const line of invoice.lines) {
          expect(line.credited_amount).toBe(line.amount);
          expect(line.credited_taxes ?? []).toEqual(line.taxes.map((tax) => tax.amount));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('12.72 inclusive of GST 5 % and QST 9.975 % (taxes 0.55 and 1.11): 12.71 back gives no rate more than it charged, the last cent no negative tax', () => {
    const invoice = openInvoice([chargeLine(1_272)], [rate('gst', '5', true), rate('qst', '9.975', true)]);
    const line = invoice.lines[0]!;
    expect(line.taxes.map((t) => t.amount)).toEqual([55, 111]);
    const most = creditNoteOf(
      invoice,
      { reason: 'duplicate', lines: [{ invoice_line_id: line.id, amount: 1_271 }] },
      all,
    );
    const [gst, qst] = most.figures.lines[0]!.taxes;
    expect(gst!.amount).toBeLessThanOrEqual(55);
    expect(qst!.amount).toBeLessThanOrEqual(111);
    const last = creditNoteOf(most.invoice, { reason: 'duplicate' }, all);
    for (const tax of last.figures.lines[0]!.taxes) expect(tax.amount).toBeGreaterThanOrEqual(0);
    expect(gst!.amount + last.figures.lines[0]!.taxes[0]!.amount).toBe(55);
    expect(qst!.amount + last.figures.lines[0]!.taxes[1]!.amount).toBe(111);
  });

  it('prepaid time (a fee billed in advance, a proration) is not credited: the subscription gives it back itself', () => {
    const advance = {
      ...chargeLine(3_100, 'subscription_fee'),
      period_start: '2026-02-01T00:00:00.000Z',
      period_end: '2026-03-01T00:00:00.000Z',
    };
    const arrears = { ...chargeLine(900, 'subscription_fee'), period_start: '2025-12-01T00:00:00.000Z' };
    const invoice = openInvoice([advance, arrears, chargeLine(400, 'proration')], []);
    const [fee, past, proration] = invoice.lines;
    for (const line of [fee!, proration!])
      expect(() =>
        creditNoteOf(invoice, { reason: 'duplicate', lines: [{ invoice_line_id: line.id, amount: 1 }] }, all),
      ).toThrow(/prepaid time/);
    // The whole invoice is what the fee billed in arrears: 9.00.
    const whole = creditNoteOf(invoice, { reason: 'duplicate' }, all);
    expect(whole.figures.lines.map((l) => [l.invoice_line_id, l.amount])).toEqual([[past!.id, 900]]);
  });

  it('a threshold invoice’s usage line is credited by amount, not by its quantity (the period so far)', () => {
    const usage = { ...chargeLine(1_000, 'threshold_usage'), quantity: '200' };
    const invoice = openInvoice([usage], []);
    expect(() =>
      creditNoteOf(
        invoice,
        { reason: 'duplicate', lines: [{ invoice_line_id: invoice.lines[0]!.id, quantity: '100' }] },
        all,
      ),
    ).toThrow(/credit it by amount/);
  });

  it('a discounted line gives back at most what it billed after its share of the discount', () => {
    const lines = [
      chargeLine(3_000),
      chargeLine(1_000),
      { ...chargeLine(-1_000), kind: 'discount' as const },
    ];
    const invoice = openInvoice(lines, [rate('vat', '10', false)]);
    // 10.00 off 40.00 is shared 7.50 / 2.50: the lines billed 22.50 and 7.50.
    expect(invoice.lines.map((line) => line.taxes[0]?.taxable_amount)).toEqual([2_250, 750, undefined]);
    const [first] = invoice.lines;
    expect(() =>
      creditNoteOf(
        invoice,
        { reason: 'duplicate', lines: [{ invoice_line_id: first!.id, amount: 2_251 }] },
        all,
      ),
    ).toThrow(/2250 USD left/);
    const whole = creditNoteOf(invoice, { reason: 'duplicate' }, all);
    expect(whole.figures).toMatchObject({ subtotal: 3_000, tax: 300, total: 3_300 });
    expect(whole.figures.total).toBe(invoice.total);
  });
});
