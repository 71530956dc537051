import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withLineIds } from '../../../shared/domain/invoice.ts';
import { taxedInvoice, untaxed } from '../../../shared/domain/invoice-tax.ts';
import type { TaxRate } from '../../../shared/domain/tax.ts';
import { storedInvoice } from '../../../shared/store/invoices-repository.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

const line = (amount: number) => ({
  kind: 'subscription_fee' as const,
  description: 'fee',
  quantity: null,
  price_id: null,
  metric: null,
  amount,
  plan_id: 'plan',
  period_start: '2026-01-01T00:00:00.000Z',
  period_end: '2026-02-01T00:00:00.000Z',
  pending_item_id: null,
  records: null,
  records_digest: null,
  records_kept_until: null,
});

const linesOf = (amounts: readonly number[]) => withLineIds('in_t', amounts.map(line));

const rate = (id: string, percentage: string, inclusive: boolean): TaxRate => ({
  id,
  display_name: `Rate ${id}`,
  jurisdiction: id === 'a' ? 'DE' : null,
  percentage,
  inclusive,
});

/** A percentage with up to 4 decimals, as ten-thousandths (0 to 100 %), and its decimal text. */
const percentage = fc.integer({ min: 0, max: 1_000_000 }).map((units) => {
  const whole = Math.floor(units / 10_000);
  const fraction = String(units % 10_000)
    .padStart(4, '0')
    .replace(/0+$/, '');
  return { units: BigInt(units), text: fraction ? `${whole}.${fraction}` : String(whole) };
});

describe('taxedInvoice: the invoice figures add up from its lines, stated independently', () => {
  it('Quebec, two lines: each line taxed alone, the invoice the sum (no rounding of the sum)', () => {
    // Two 0.10 lines: at 5 % each line's 0.005 rounds half away from zero to 0.01, so the invoice's
    // tax is 0.02 where taxing the sum (0.20) would give 0.01; at 9.975 % each 0.009975 → 0.01.
    const taxed = taxedInvoice(linesOf([10, 10]), [rate('a', '5', false), rate('b', '9.975', false)]);
    expect(taxed.total_taxes.map((t) => [t.tax_rate_id, t.amount, t.taxable_amount])).toEqual([
      ['a', 2, 20],
      ['b', 2, 20],
    ]);
    expect(taxed).toMatchObject({ subtotal: 20, tax: 4, total: 24, total_excluding_tax: 20 });
    expect(taxed.total_taxes[0]).toMatchObject({ display_name: 'Rate a', jurisdiction: 'DE' });
  });

  it('a credit line is taxed back exactly: a charge and its credit leave no tax', () => {
    const taxed = taxedInvoice(linesOf([1_999, -1_999]), [rate('a', '8.875', false)]);
    expect(taxed).toMatchObject({ subtotal: 0, tax: 0, total: 0 });
    expect(taxed.lines.map((l) => l.taxes[0]!.amount)).toEqual([177, -177]);
  });

  it('a threshold credit is taxed back at the rates its invoice was taxed at, not the invoice’s', () => {
    // The threshold invoice charged 119.00 holding 19 % VAT (19.00); since then the customer's rate is
    // 19 % on top. The credit takes back exactly the 19.00 it charged, not 22.61.
    const inclusive = rate('old', '19', true);
    const [usage, credit] = linesOf([20_000, -11_900]);
    const taxed = taxedInvoice(
      [
        usage!,
        {
          ...credit!,
          kind: 'threshold_credit',
          credited_invoice_id: 'in_t1',
          credited_tax_rates: [inclusive],
        },
      ],
      [rate('new', '19', false)],
    );
    expect(taxed.lines[1]!.taxes).toEqual([
      { tax_rate_id: 'old', percentage: '19', inclusive: true, taxable_amount: -10_000, amount: -1_900 },
    ]);
    expect(taxed.lines[0]!.taxes[0]).toMatchObject({ tax_rate_id: 'new', amount: 3_800 });
    // The credited rate is named on the invoice like its own.
    expect(taxed.total_taxes.map((t) => [t.tax_rate_id, t.display_name])).toEqual([
      ['new', 'Rate new'],
      ['old', 'Rate old'],
    ]);
    // 200.00 + 38.00 of tax on top, less the 119.00 credited (its 19.00 of tax inside it).
    expect(taxed).toMatchObject({ subtotal: 8_100, tax: 1_900, total: 11_900 });
  });

  it('any lines and rates: every figure is the sum of the lines, and each tax within half a unit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -10_000_000, max: 10_000_000 }), { maxLength: 12 }),
        fc.array(percentage, { maxLength: 4 }),
        fc.boolean(),
        (amounts, percentages, inclusive) => {
          const rates = percentages.map((p, i) => rate(String.fromCharCode(97 + i), p.text, inclusive));
          const taxed = taxedInvoice(linesOf(amounts), rates);
          const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
          expect(taxed.subtotal).toBe(sum(amounts));
          const lineTaxes = taxed.lines.map((l) => sum(l.taxes.map((t) => t.amount)));
          expect(taxed.tax).toBe(sum(lineTaxes));
          expect(taxed.total).toBe(inclusive ? taxed.subtotal : taxed.subtotal + taxed.tax);
          expect(taxed.total_excluding_tax).toBe(taxed.total - taxed.tax);
          expect(taxed.tax_rates).toEqual(rates);
          const totalP = percentages.reduce((a, p) => a + p.units, 0n);
          taxed.lines.forEach((l, i) => {
            const amount = BigInt(amounts[i]!);
            expect(l.taxes.map((t) => t.tax_rate_id)).toEqual(rates.map((r) => r.id));
            if (inclusive) {
              // The line's tax is within half a unit of amount × Σp / (100 + Σp), in exact fractions.
              const tax = BigInt(lineTaxes[i]!);
              const base = 1_000_000n + totalP;
              const diff = 2n * (tax * base - amount * totalP);
              expect(diff <= base && diff >= -base).toBe(true);
            } else {
              // Each rate's tax is within half a unit of amount × p / 100.
              l.taxes.forEach((t, r) => {
                const diff = 2n * (BigInt(t.amount) * 1_000_000n - amount * percentages[r]!.units);
                expect(diff <= 1_000_000n && diff >= -1_000_000n).toBe(true);
              });
            }
          });
          // Per rate: the sums over the lines.
          taxed.total_taxes.forEach((total, r) => {
            expect(total.amount).toBe(sum(taxed.lines.map((l) => l.taxes[r]!.amount)));
            expect(total.taxable_amount).toBe(sum(taxed.lines.map((l) => l.taxes[r]!.taxable_amount)));
          });
          expect(taxed.total_taxes).toHaveLength(
            rates.length === 0 || amounts.length === 0 ? 0 : rates.length,
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('no rates: nothing changes but each line says it carries no tax', () => {
    const taxed = taxedInvoice(linesOf([500, 250]), []);
    expect(taxed).toMatchObject({ ...untaxed(750), lines: linesOf([500, 250]) });
  });
});

describe('an invoice stored before invoices were taxed', () => {
  it('reads as untaxed: subtotal its total, tax 0, lines without taxes', () => {
    const [first] = linesOf([700]);
    const { taxes: _taxes, ...legacyLine } = first!;
    const legacy = { PK: 'INVOICE#in_old', SK: 'PROFILE', id: 'in_old', total: 700, lines: [legacyLine] };
    expect(storedInvoice(legacy)).toMatchObject({
      subtotal: 700,
      tax: 0,
      total: 700,
      total_excluding_tax: 700,
      total_taxes: [],
      tax_rates: [],
      lines: [{ ...legacyLine, taxes: [] }],
    });
  });
});
