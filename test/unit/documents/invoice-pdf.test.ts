import { describe, expect, it } from 'vitest';
import { invoiceDocument } from '../../../shared/documents/invoice-document.ts';
import { renderInvoicePdf } from '../../../shared/documents/invoice-pdf.ts';
import type { Customer } from '../../../shared/domain/customer.ts';
import type { InvoiceLine } from '../../../shared/domain/invoice.ts';
import { openInvoiceFixture } from '../../support/fixtures.ts';
import { pdfText } from '../../support/pdf-text.ts';

const customer: Customer = {
  id: 'c',
  name: 'Łódź Müller & Søn — Ελλάδα',
  email: 'ap@example.com',
  metadata: {},
  stripe_customer_id: null,
  invoice_prefix: 'K7QX2M9P',
  tax_rate_ids: [],
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  version: 1,
};

const line = (overrides: Partial<InvoiceLine>): InvoiceLine => ({
  id: `li_${overrides.description}`,
  kind: 'one_time',
  description: 'x',
  quantity: null,
  price_id: null,
  metric: null,
  amount: 0,
  plan_id: null,
  period_start: '2026-11-01T00:00:00.000Z',
  period_end: '2026-12-01T00:00:00.000Z',
  pending_item_id: null,
  records: null,
  records_digest: null,
  records_kept_until: null,
  taxes: [],
  ...overrides,
});

/** Figures worked by hand: 10,000.00 + 23.45 + 3 × 15.00 − 10.00 = 10,058.45; 19 % of it 1,911.11. */
const invoice = openInvoiceFixture({
  number: 'K7QX2M9P-0007',
  currency: 'EUR',
  finalized_at: '2026-12-01T09:30:00.000Z',
  due_date: '2026-12-31T09:30:00.000Z',
  period_start: '2026-11-01T00:00:00.000Z',
  period_end: '2026-12-01T00:00:00.000Z',
  lines: [
    line({ kind: 'subscription_fee', description: 'Enterprise plan', amount: 1_000_000 }),
    line({ kind: 'usage', description: 'API calls (tiered)', quantity: '12345.5', amount: 2345 }),
    line({ description: 'Onboarding workshop', quantity: '3', unit_amount: 1500, amount: 4500 }),
    line({ kind: 'discount', description: 'Coupon WELCOME (10.00 off)', amount: -1000 }),
  ],
  subtotal: 1_005_845,
  tax: 191_111,
  total: 1_196_956,
  total_excluding_tax: 1_005_845,
  tax_rates: [{ id: 'txr_1', display_name: 'VAT', jurisdiction: 'DE', percentage: '19', inclusive: false }],
  total_taxes: [
    {
      tax_rate_id: 'txr_1',
      display_name: 'VAT',
      jurisdiction: 'DE',
      percentage: '19',
      inclusive: false,
      taxable_amount: 1_005_845,
      amount: 191_111,
    },
  ],
  credit_applied: 6_956,
  amount_due: 1_190_000,
});

const issuer = ['Example Platform GmbH', 'Hauptstraße 1, 10115 Berlin', 'VAT ID DE123456789'];

describe('invoice PDF', () => {
  it("prints the invoice's number, dates, parties, every line and every total, as a reader extracts them", async () => {
    const pdf = await renderInvoicePdf(invoiceDocument(invoice, customer, issuer), invoice.finalized_at!);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const { pages, info } = await pdfText(pdf);
    expect(pages).toHaveLength(1);
    const text = pages[0]!;
    // Each expected string is written out by hand from the figures above, not by the code's formatter.
    for (const expected of [
      'Invoice',
      'K7QX2M9P-0007',
      '2026-12-01',
      '2026-12-31',
      '2026-11-01 to 2026-12-01',
      'Łódź Müller & Søn — Ελλάδα',
      'ap@example.com',
      'Hauptstraße 1, 10115 Berlin',
      'Amount (EUR)',
      'Enterprise plan',
      '10,000.00',
      'API calls (tiered)',
      '12345.5',
      '23.45',
      'Onboarding workshop',
      '15.00',
      '45.00',
      'Coupon WELCOME (10.00 off)',
      '-10.00',
      'Subtotal',
      '10,058.45',
      'VAT 19% (DE) on 10,058.45',
      '1,911.11',
      'Total excluding tax',
      'Total',
      '11,969.56',
      'Credit applied from balance',
      '-69.56',
      'Amount due',
      '11,900.00',
    ]) {
      expect(text, expected).toContain(expected);
    }
    // Rows read left to right in table order: the amount after its description.
    expect(text.indexOf('10,000.00')).toBeGreaterThan(text.indexOf('Enterprise plan'));
    expect(text.indexOf('11,900.00')).toBeGreaterThan(text.indexOf('Amount due'));
    expect(info.Title).toBe('Invoice K7QX2M9P-0007');
    expect(info.CreationDate).toBe('D:20261201093000Z');
  });

  it('gives the same bytes every time it renders the same invoice', async () => {
    const document = invoiceDocument(invoice, customer, issuer);
    const first = await renderInvoicePdf(document, invoice.finalized_at!);
    const second = await renderInvoicePdf(document, invoice.finalized_at!);
    expect(first.equals(second)).toBe(true);
  });

  it('continues a long invoice on numbered pages, each line printed once', async () => {
    const lines = Array.from({ length: 120 }, (_, i) =>
      line({
        description: `Workshop seat ${String(i + 1).padStart(3, '0')}`,
        quantity: '1',
        unit_amount: 100 + i,
        amount: 100 + i,
      }),
    );
    const long = openInvoiceFixture({ ...invoice, lines, tax_rates: [], total_taxes: [] });
    const { pages } = await pdfText(
      await renderInvoicePdf(invoiceDocument(long, customer, []), long.finalized_at!),
    );
    expect(pages.length).toBeGreaterThan(2);
    const all = pages.flat();
    for (let i = 0; i < 120; i++) {
      expect(all.filter((text) => text === `Workshop seat ${String(i + 1).padStart(3, '0')}`)).toHaveLength(
        1,
      );
    }
    pages.forEach((page, i) => {
      expect(page).toContain(`K7QX2M9P-0007 · page ${i + 1} of ${pages.length}`);
      expect(page).toContain('Amount (EUR)');
    });
    expect(pages.at(-1)).toContain('Amount due');
  });

  it('prints a currency without minor units, and one with three, at their own decimal places', async () => {
    for (const [currency, amount, printed] of [
      ['JPY', 1_234_567, '1,234,567'],
      ['BHD', 1_234_567, '1,234.567'],
    ] as const) {
      const single = openInvoiceFixture({
        ...invoice,
        currency,
        lines: [line({ description: 'Licence', amount })],
        subtotal: amount,
        tax: 0,
        total: amount,
        total_excluding_tax: amount,
        tax_rates: [],
        total_taxes: [],
        credit_applied: 0,
        amount_due: amount,
      });
      const { pages } = await pdfText(
        await renderInvoicePdf(invoiceDocument(single, customer, []), single.finalized_at!),
      );
      expect(pages[0]!.filter((text) => text === printed).length).toBeGreaterThanOrEqual(3); // line, total, due
      expect(pages[0]).toContain(`Amount (${currency})`);
    }
  });

  it('prints the seller kept on the invoice when it was finalized, not the stage’s setting of today', async () => {
    const kept = openInvoiceFixture({ ...invoice, issuer: ['Old Name GmbH', 'VAT ID DE000000001'] });
    const { pages } = await pdfText(
      await renderInvoicePdf(invoiceDocument(kept, customer, ['New Name AG']), kept.finalized_at!),
    );
    expect(pages[0]).toEqual(expect.arrayContaining(['Old Name GmbH', 'VAT ID DE000000001']));
    expect(pages[0]).not.toContain('New Name AG');
    // An invoice finalized before the seller was kept prints today's.
    expect(invoiceDocument(invoice, customer, ['New Name AG']).issuer).toEqual(['New Name AG']);
  });

  it('refuses a draft, which is not a document yet', () => {
    const draft = openInvoiceFixture({ status: 'draft', number: null, finalized_at: null });
    expect(() => invoiceDocument(draft, customer, [])).toThrow(/draft.*finalize/);
  });

  it('keeps a ten-million total on one line and a long seller address off the next line', async () => {
    const big = openInvoiceFixture({
      ...invoice,
      lines: [
        line({
          description: 'Enterprise licence',
          quantity: '1000000',
          unit_amount: 123_456,
          amount: 123_456_000_000,
        }),
      ],
      subtotal: 123_456_000_000,
      tax: 0,
      total: 123_456_000_000,
      total_excluding_tax: 123_456_000_000,
      tax_rates: [],
      total_taxes: [],
      credit_applied: 0,
      amount_due: 123_456_000_000,
    });
    const longIssuer = [
      'Example Platform Gesellschaft mit beschränkter Haftung',
      'Friedrichstraße 123, Hinterhaus, 3. Obergeschoss, 10117 Berlin',
      'VAT ID DE123456789',
    ];
    const rendered = await renderInvoicePdf(invoiceDocument(big, customer, longIssuer), big.finalized_at!);
    const { pages, runs } = await pdfText(rendered);
    // Whole, never broken over two lines: the line, the subtotal, the total and the amount due.
    expect(pages[0]!.filter((text) => text === '1,234,560,000.00')).toHaveLength(4);
    expect(pages[0]).toContain('1,234.56');
    // The seller block's runs each on a line of their own: no two closer than a line apart.
    const seller = runs[0]!.filter(
      (run) => run.x > 250 && longIssuer.some((l) => l.includes(run.text.trim())),
    );
    expect(seller.length).toBeGreaterThanOrEqual(3);
    const ys = seller.map((run) => run.y).sort((a, b) => b - a);
    for (let i = 1; i < ys.length; i++) expect(ys[i - 1]! - ys[i]!).toBeGreaterThanOrEqual(9);
  });
});
