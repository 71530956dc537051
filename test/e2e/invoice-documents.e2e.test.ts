import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.ts';
import { resetConfigCache } from '../../shared/config.ts';
import { SCOPES } from '../../shared/http/routes.ts';
import {
  callsWith,
  closePeriodsAt,
  createdOverHttp,
  oneOffBuyer,
  subscribeOverHttp,
} from '../support/http-fixtures.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';
import { pdfText } from '../support/pdf-text.ts';

/**
 * Invoices as documents over HTTP: the PDF (read back with a PDF reader, its figures compared with
 * amounts worked by hand) and the hosted page behind an expiring link, opened with no token at all.
 */
let service: TestService;
let operator: string;

beforeAll(async () => {
  // The stage's invoiceIssuer (lines joined by "|"), read by the handlers as in Lambda.
  process.env.INVOICE_ISSUER = 'Seller One GmbH | VAT ID DE111111111';
  ({ service, operator } = await startWithOperator());
});
afterAll(async () => service?.close());

const call = callsWith(
  () => service,
  () => operator,
);
const created = (path: string, body: unknown) => createdOverHttp(service, operator, path, body);

/** A GET whose body is bytes (a PDF) or a page, with or without a token. */
async function fetchRaw(url: string, token?: string) {
  const response = await fetch(url.startsWith('http') ? url : `${service.url}${url}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return {
    status: response.status,
    headers: response.headers,
    bytes: Buffer.from(await response.arrayBuffer()),
  };
}

let vat: { id: string };
beforeAll(async () => {
  vat = await created('/api/v1/tax-rates', {
    display_name: 'VAT',
    percentage: '19',
    inclusive: false,
    jurisdiction: 'DE',
  });
});

describe('GET /invoices/{id}/pdf', () => {
  it('is the finalized invoice as a PDF: its number, customer, line, VAT and totals as a reader extracts them', async () => {
    const { customer, invoice } = await oneOffBuyer(service, operator, {
      name: 'Zażółć Gęślą GmbH',
      unitAmount: 12_345,
      taxRateIds: [vat.id],
    });
    // 2 × 123.45 = 246.90; 19 % of it is 46.911, rounded 46.91; 293.81 in all.
    const open = await invoice(2);
    expect(open).toMatchObject({ status: 'open', subtotal: 24_690, tax: 4_691, total: 29_381 });

    const pdf = await fetchRaw(`/api/v1/invoices/${open.id}/pdf`, operator);
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(pdf.headers.get('content-disposition')).toBe(`inline; filename="${open.number}.pdf"`);
    const { pages } = await pdfText(pdf.bytes);
    expect(pages).toHaveLength(1);
    for (const text of [
      open.number,
      'Zażółć Gęślą GmbH',
      customer.email,
      open.finalized_at.slice(0, 10),
      'Amount (USD)',
      '123.45',
      '246.90',
      'VAT 19% (DE) on 246.90',
      '46.91',
      '293.81',
    ]) {
      expect(pages[0], text).toContain(text);
    }
    // The total and the amount due both read 293.81.
    expect(pages[0]!.filter((text) => text === '293.81')).toHaveLength(2);
  });

  it('is stored once, as issued: a later rename of the customer does not change it', async () => {
    const { customer, invoice } = await oneOffBuyer(service, operator, {
      name: 'Stored Once',
      unitAmount: 500,
    });
    const open = await invoice();
    const first = await fetchRaw(`/api/v1/invoices/${open.id}/pdf`, operator);
    // The API renames no customer yet: the store is changed underneath, as a later rename would.
    const store = DynamoDBDocumentClient.from(
      new DynamoDBClient({ ...LOCAL_AWS, endpoint: service.dynamoDbEndpoint }),
    );
    await store.send(
      new UpdateCommand({
        TableName: service.tables.billing,
        Key: { PK: `CUSTOMER#${customer.id}`, SK: 'PROFILE' },
        UpdateExpression: 'SET #name = :name',
        ExpressionAttributeNames: { '#name': 'name' },
        ExpressionAttributeValues: { ':name': 'Renamed Later' },
      }),
    );
    store.destroy();
    const page = await call('GET', `/api/v1/customers/${customer.id}`);
    expect(page.body.name).toBe('Renamed Later');
    const second = await fetchRaw(`/api/v1/invoices/${open.id}/pdf`, operator);
    expect(second.bytes.equals(first.bytes)).toBe(true);
    expect((await pdfText(second.bytes)).pages[0]).toContain('Stored Once');
  });

  it('prints the seller as it was when the invoice was finalized, even when first rendered after a change', async () => {
    const { invoice } = await oneOffBuyer(service, operator, { name: 'Seller Kept', unitAmount: 500 });
    const open = await invoice();
    expect(open.issuer).toEqual(['Seller One GmbH', 'VAT ID DE111111111']);
    // The stage's setting changes (a redeploy) before anyone asked for the PDF.
    process.env.INVOICE_ISSUER = 'Seller Two AG';
    resetConfigCache();
    try {
      const { pages } = await pdfText((await fetchRaw(`/api/v1/invoices/${open.id}/pdf`, operator)).bytes);
      expect(pages[0]).toEqual(expect.arrayContaining(['Seller One GmbH', 'VAT ID DE111111111']));
      expect(pages[0]).not.toContain('Seller Two AG');
      // An invoice finalized now keeps the new one.
      const later = await (
        await oneOffBuyer(service, operator, { name: 'Seller New', unitAmount: 500 })
      ).invoice();
      expect(later.issuer).toEqual(['Seller Two AG']);
    } finally {
      process.env.INVOICE_ISSUER = 'Seller One GmbH | VAT ID DE111111111';
      resetConfigCache();
    }
  });

  it('refuses a draft (409, saying to finalize it), and hides another tenant’s invoice (404)', async () => {
    // A period's close drafts its invoice (this moves the local clock a month on).
    const { customer, subscription } = await subscribeOverHttp(service, operator, 'Draft Docs');
    await closePeriodsAt(service, new Date(Date.parse(subscription.current_period_end) + 1000));
    const [draft] = (await call('GET', `/api/v1/invoices?customer_id=${customer.id}`)).body.data;
    expect(draft.status).toBe('draft');
    const refused = await call('GET', `/api/v1/invoices/${draft.id}/pdf`);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/draft.*finalize/);
    const noLink = await call('POST', `/api/v1/invoices/${draft.id}/hosted-links`, {});
    expect(noLink.status).toBe(409);
    const { invoice } = await oneOffBuyer(service, operator, { name: 'Tenant Docs', unitAmount: 700 });
    const open = await invoice();
    const other = await service.token([SCOPES.invoicesRead], { tenantId: 'someone-else' });
    expect((await fetchRaw(`/api/v1/invoices/${open.id}/pdf`, other)).status).toBe(404);
    const own = await service.token([SCOPES.invoicesRead], { tenantId: open.customer_id });
    expect((await fetchRaw(`/api/v1/invoices/${open.id}/pdf`, own)).status).toBe(200);
    expect((await fetchRaw(`/api/v1/invoices/${open.id}/pdf`)).status).toBe(401);
  });
});

describe('hosted invoice links', () => {
  it('open the invoice page with no token: the invoice as issued, then where it stands after a credit note and payment', async () => {
    const { invoice } = await oneOffBuyer(service, operator, {
      name: 'Hosted <b>Page</b> & Co',
      unitAmount: 10_000,
      taxRateIds: [vat.id],
    });
    const open = await invoice();
    const made = await call('POST', `/api/v1/invoices/${open.id}/hosted-links`, {});
    expect(made.status).toBe(201);
    expect(made.body.url).toMatch(new RegExp(`^${service.url}/hosted/invoices/hil_[A-Za-z0-9_-]{43}$`));
    expect(made.body.pdf_url).toBe(`${made.body.url}/pdf`);
    const days = (Date.parse(made.body.expires_at) - Date.parse(open.finalized_at)) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);

    const page = await fetchRaw(made.body.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('cache-control')).toBe('private, no-store');
    const html = page.bytes.toString('utf8');
    expect(html).not.toMatch(/<script/i);
    // The customer's name is text, never markup.
    expect(html).toContain('Hosted &lt;b&gt;Page&lt;/b&gt; &amp; Co');
    expect(html).toContain(open.number);
    // 100.00 + 19 % VAT = 119.00, all due.
    expect(html).toMatch(/<th scope="row">Total<\/th><td class="num">119\.00<\/td>/);
    expect(html).toMatch(/<th scope="row">Amount due now<\/th><td class="num">119\.00<\/td>/);
    expect(html).toContain('>Open</p>');

    // 25.00 credited: 4.75 of VAT with it, 29.75 off; 89.25 still due.
    const note = await call('POST', `/api/v1/invoices/${open.id}/credit-notes`, {
      reason: 'order_change',
      lines: [{ invoice_line_id: open.lines[0].id, amount: 2_500 }],
    });
    expect(note.status).toBe(201);
    const afterNote = (await fetchRaw(made.body.url)).bytes.toString('utf8');
    expect(afterNote).toMatch(/Credit notes \(off the amount due\)<\/th><td class="num">-29\.75</);
    expect(afterNote).toMatch(/Amount due now<\/th><td class="num">89\.25</);
    // The invoice as issued has not moved.
    expect(afterNote).toMatch(/<th scope="row">Total<\/th><td class="num">119\.00<\/td>/);

    expect((await call('POST', `/api/v1/invoices/${open.id}/pay`, { paid_out_of_band: true })).status).toBe(
      200,
    );
    const paid = (await fetchRaw(made.body.url)).bytes.toString('utf8');
    expect(paid).toContain('>Paid</p>');
    expect(paid).toMatch(/Amount due now<\/th><td class="num">0\.00</);

    // The link's PDF is the invoice's PDF.
    const viaLink = await fetchRaw(made.body.pdf_url);
    expect(viaLink.status).toBe(200);
    expect(viaLink.headers.get('content-type')).toBe('application/pdf');
    const viaApi = await fetchRaw(`/api/v1/invoices/${open.id}/pdf`, operator);
    expect(viaLink.bytes.equals(viaApi.bytes)).toBe(true);
  });

  it('store only a hash of the token, and audit who made the link', async () => {
    const { invoice } = await oneOffBuyer(service, operator, { name: 'Hashed Link', unitAmount: 900 });
    const open = await invoice();
    const made = await call('POST', `/api/v1/invoices/${open.id}/hosted-links`, { expires_in_days: 7 });
    const token = made.body.url.split('/').pop();
    const items = await service.billingItems();
    expect(JSON.stringify(items)).not.toContain(token);
    expect(
      items.filter((item) => item.item_type === 'hosted_link' && item.invoice_id === open.id),
    ).toHaveLength(1);
    const trail = await call('GET', `/api/v1/audit/invoice/${open.id}`);
    const entry = trail.body.data.find((e: { action: string }) => e.action === 'hosted_link_created');
    expect(entry).toMatchObject({ actor: { kind: 'user' }, after: { expires_at: made.body.expires_at } });
  });

  it('answer a person with a page: 404 for a token that is not one, whatever its shape', async () => {
    for (const token of [`hil_${'A'.repeat(43)}`, 'not-a-token', '..%2F..%2Fetc']) {
      const answer = await fetchRaw(`/hosted/invoices/${token}`);
      expect(answer.status, token).toBe(404);
      expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(answer.bytes.toString('utf8')).toContain('This link does not work');
      expect((await fetchRaw(`/hosted/invoices/${token}/pdf`)).status).toBe(404);
    }
  });

  it('refuse what is not a link to make: a draft, a bad lifetime (named), another tenant’s invoice', async () => {
    const { invoice } = await oneOffBuyer(service, operator, { name: 'Link Rules', unitAmount: 900 });
    const open = await invoice();
    for (const expires_in_days of [0, 91, 1.5, '7']) {
      const refused = await call('POST', `/api/v1/invoices/${open.id}/hosted-links`, { expires_in_days });
      expect(refused.status, String(expires_in_days)).toBe(400);
      expect(refused.body.errors[0].field).toBe('expires_in_days');
    }
    const other = await service.token([SCOPES.invoicesWrite], { tenantId: 'someone-else' });
    const hidden = await service.call('POST', `/api/v1/invoices/${open.id}/hosted-links`, {
      token: other,
      body: {},
    });
    expect(hidden.status).toBe(404);
    // A link is a credential handed out: reading the invoice is not enough to make one.
    const reader = await service.token([SCOPES.invoicesRead], { tenantId: open.customer_id });
    const refused = await service.call('POST', `/api/v1/invoices/${open.id}/hosted-links`, {
      token: reader,
      body: {},
    });
    expect(refused.status).toBe(403);
    const own = await service.token([SCOPES.invoicesWrite], { tenantId: open.customer_id });
    const mine = await service.call('POST', `/api/v1/invoices/${open.id}/hosted-links`, {
      token: own,
      body: {},
    });
    expect(mine.status).toBe(201);
  });

  it('can be revoked: every link of the invoice made until then answers 410; a link made after works', async () => {
    const { invoice } = await oneOffBuyer(service, operator, { name: 'Revoked Links', unitAmount: 900 });
    const open = await invoice();
    const first = await call('POST', `/api/v1/invoices/${open.id}/hosted-links`, {});
    const second = await call('POST', `/api/v1/invoices/${open.id}/hosted-links`, { expires_in_days: 90 });
    expect(first.body.id).toMatch(/^hl_[0-9a-f]{24}$/);
    expect(first.body.id).not.toBe(second.body.id);
    const revoked = await call('DELETE', `/api/v1/invoices/${open.id}/hosted-links`);
    expect(revoked.status).toBe(200);
    for (const url of [first.body.url, second.body.url, second.body.pdf_url]) {
      const answer = await fetchRaw(url);
      expect(answer.status, url).toBe(410);
      expect(answer.bytes.toString('utf8')).toContain('withdrawn');
    }
    const third = await call('POST', `/api/v1/invoices/${open.id}/hosted-links`, {});
    expect((await fetchRaw(third.body.url)).status).toBe(200);
    const trail = (await call('GET', `/api/v1/audit/invoice/${open.id}`)).body.data;
    expect(trail.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(['hosted_link_created', 'hosted_links_revoked']),
    );
    expect(trail.find((e: { action: string }) => e.action === 'hosted_link_created').after.link_id).toBe(
      first.body.id,
    );
  });

  it('show a voided invoice as void, and do not hand out its PDF (which reads as payable)', async () => {
    const { invoice } = await oneOffBuyer(service, operator, { name: 'Voided Link', unitAmount: 900 });
    const open = await invoice();
    const made = await call('POST', `/api/v1/invoices/${open.id}/hosted-links`, {});
    expect((await call('POST', `/api/v1/invoices/${open.id}/void`)).status).toBe(200);
    const page = (await fetchRaw(made.body.url)).bytes.toString('utf8');
    expect(page).toContain('>Void</p>');
    expect(page).toMatch(/Amount due now<\/th><td class="num">0\.00</);
    const pdf = await fetchRaw(made.body.pdf_url);
    expect(pdf.status).toBe(410);
    expect(pdf.bytes.toString('utf8')).toContain('was voided');
  });

  // Last in the file: it moves the local clock two days on.
  it('stop working when they expire: 410, with a page that says to ask for a new one', async () => {
    const { invoice } = await oneOffBuyer(service, operator, { name: 'Expiring Link', unitAmount: 900 });
    const open = await invoice();
    const made = await call('POST', `/api/v1/invoices/${open.id}/hosted-links`, { expires_in_days: 1 });
    expect((await fetchRaw(made.body.url)).status).toBe(200);
    await closePeriodsAt(service, new Date(Date.parse(made.body.expires_at) + 60_000));
    const expired = await fetchRaw(made.body.url);
    expect(expired.status).toBe(410);
    expect(expired.bytes.toString('utf8')).toContain('ask the sender for a new one');
    expect((await fetchRaw(made.body.pdf_url)).status).toBe(410);
  });
});
