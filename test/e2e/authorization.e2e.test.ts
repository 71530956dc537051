import { generateKeyPair, SignJWT } from 'jose';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AUDIENCE, LOCAL_ISSUER, mintDevToken } from '../../local/dev-auth.ts';
import { ROUTES, type RouteDefinition, SCOPES } from '../../shared/http/routes.ts';
import { closePeriodsAt, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startTestService, type TestService } from '../support/local-service.ts';

/**
 * Every route × every way a caller can be wrong: no token, an expired one, the wrong issuer or
 * audience, a forged signature, an unsigned token, a missing scope, and another tenant's token.
 * Each must be refused (401/403/404) and change nothing in the billing table.
 */
let service: TestService;
const WEBHOOK_SECRET = 'whsec_authorization_matrix';
const ALL_SCOPES = Object.values(SCOPES);

type Fixture = {
  customerId: string;
  otherCustomerId: string;
  productId: string;
  planId: string;
  priceId: string;
  subscriptionId: string;
  invoiceId: string;
  usageLineId: string;
  oneTimePriceId: string;
  invoiceItemId: string;
  paymentMethodId: string;
  taxRateId: string;
  couponId: string;
  discountId: string;
  /** A finalized one-off invoice of the customer, and a credit note of it. */
  openInvoiceId: string;
  openLineId: string;
  creditNoteId: string;
};
let f: Fixture;

/** What a tenant token for another customer gets: refused, or (shared catalog, own-only lists) no data of ours. */
type OtherTenant = 401 | 403 | 404 | 'shared' | 'own-only';
type Sample = { path: string; body?: unknown; otherTenant: OtherTenant };

/** A request each route would accept from an operator: the refusals below are about the caller only. */
const SAMPLES: Record<string, (route: RouteDefinition) => Sample> = {
  'customers-create': () => ({
    path: '/api/v1/customers',
    body: { name: 'X', email: 'x@example.com' },
    otherTenant: 403,
  }),
  'customers-list': () => ({ path: '/api/v1/customers', otherTenant: 'own-only' }),
  'customers-get': () => ({ path: `/api/v1/customers/${f.customerId}`, otherTenant: 404 }),
  'customers-update': () => ({
    path: `/api/v1/customers/${f.customerId}`,
    body: { tax_rate_ids: [f.taxRateId] },
    otherTenant: 403,
  }),
  'tax-rates-create': () => ({
    path: '/api/v1/tax-rates',
    body: { display_name: 'VAT', percentage: '19', inclusive: false },
    otherTenant: 403,
  }),
  'tax-rates-list': () => ({ path: '/api/v1/tax-rates', otherTenant: 'shared' }),
  'coupons-create': () => ({
    path: '/api/v1/coupons',
    body: { name: 'C', percent_off: '10', duration: 'once' },
    otherTenant: 403,
  }),
  // A coupon's terms are the seller's: a tenant sees only the coupons it holds, in its discounts.
  'coupons-list': () => ({ path: '/api/v1/coupons', otherTenant: 403 }),
  'coupons-get': () => ({ path: `/api/v1/coupons/${f.couponId}`, otherTenant: 403 }),
  'discounts-create': () => ({
    path: `/api/v1/customers/${f.customerId}/discounts`,
    body: { coupon_id: f.couponId },
    otherTenant: 403,
  }),
  'discounts-list': () => ({ path: `/api/v1/customers/${f.customerId}/discounts`, otherTenant: 404 }),
  'discounts-delete': () => ({
    path: `/api/v1/customers/${f.customerId}/discounts/${f.discountId}`,
    otherTenant: 403,
  }),
  'tax-rates-get': () => ({ path: `/api/v1/tax-rates/${f.taxRateId}`, otherTenant: 'shared' }),
  'products-create': () => ({ path: '/api/v1/products', body: { name: 'P' }, otherTenant: 403 }),
  'products-list': () => ({ path: '/api/v1/products', otherTenant: 'shared' }),
  'products-get': () => ({ path: `/api/v1/products/${f.productId}`, otherTenant: 'shared' }),
  'plans-create': () => ({
    path: '/api/v1/plans',
    body: { product_id: f.productId, name: 'P', currency: 'USD', interval: 'month', total_budget: 100 },
    otherTenant: 403,
  }),
  'plans-list': () => ({ path: '/api/v1/plans', otherTenant: 'shared' }),
  'plans-get': () => ({ path: `/api/v1/plans/${f.planId}`, otherTenant: 'shared' }),
  'prices-create': () => ({
    path: '/api/v1/prices',
    body: { plan_id: f.planId, model: 'flat', unit_amount: 100 },
    otherTenant: 403,
  }),
  'prices-list': () => ({ path: '/api/v1/prices', otherTenant: 'shared' }),
  'prices-get': () => ({ path: `/api/v1/prices/${f.priceId}`, otherTenant: 'shared' }),
  'prices-archive': () => ({ path: `/api/v1/prices/${f.priceId}/archive`, otherTenant: 403 }),
  'subscriptions-create': () => ({
    path: '/api/v1/subscriptions',
    body: { customer_id: f.customerId, plan_id: f.planId },
    otherTenant: 403,
  }),
  'subscriptions-list': () => ({
    path: `/api/v1/subscriptions?customer_id=${f.customerId}`,
    otherTenant: 403,
  }),
  'subscriptions-get': () => ({ path: `/api/v1/subscriptions/${f.subscriptionId}`, otherTenant: 404 }),
  'subscriptions-update': () => ({
    path: `/api/v1/subscriptions/${f.subscriptionId}`,
    body: { cancel_at_period_end: false },
    otherTenant: 404,
  }),
  'subscriptions-usage': () => ({
    path: `/api/v1/subscriptions/${f.subscriptionId}/usage`,
    otherTenant: 404,
  }),
  'subscriptions-upcoming-invoice': () => ({
    path: `/api/v1/subscriptions/${f.subscriptionId}/upcoming-invoice`,
    otherTenant: 404,
  }),
  'usage-records-create': (route) => ({
    path: route.path,
    body: { subscription_id: f.subscriptionId, metric: 'calls', quantity: 1, idempotency_key: 'authz-1' },
    otherTenant: 404,
  }),
  'invoices-list': () => ({ path: `/api/v1/invoices?customer_id=${f.customerId}`, otherTenant: 403 }),
  'invoices-get': () => ({ path: `/api/v1/invoices/${f.invoiceId}`, otherTenant: 404 }),
  'invoices-line-usage-records': () => ({
    path: `/api/v1/invoices/${f.invoiceId}/lines/${f.usageLineId}/usage-records`,
    otherTenant: 404,
  }),
  'subscriptions-budget': () => ({
    path: `/api/v1/subscriptions/${f.subscriptionId}/budget`,
    otherTenant: 404,
  }),
  'subscriptions-usage-records': () => ({
    path: `/api/v1/subscriptions/${f.subscriptionId}/usage-records`,
    otherTenant: 404,
  }),
  'invoices-finalize': () => ({ path: `/api/v1/invoices/${f.invoiceId}/finalize`, otherTenant: 403 }),
  'invoices-void': () => ({ path: `/api/v1/invoices/${f.invoiceId}/void`, otherTenant: 403 }),
  'invoices-mark-uncollectible': () => ({
    path: `/api/v1/invoices/${f.invoiceId}/mark-uncollectible`,
    otherTenant: 403,
  }),
  'invoices-pay': () => ({
    path: `/api/v1/invoices/${f.invoiceId}/pay`,
    body: { paid_out_of_band: true },
    otherTenant: 403,
  }),
  'invoice-items-create': () => ({
    path: '/api/v1/invoice-items',
    body: {
      customer_id: f.customerId,
      subscription_id: f.subscriptionId,
      price_id: f.oneTimePriceId,
      quantity: 1,
    },
    otherTenant: 403,
  }),
  'invoice-items-list': () => ({
    path: `/api/v1/invoice-items?subscription_id=${f.subscriptionId}`,
    otherTenant: 404,
  }),
  'invoice-items-delete': () => ({ path: `/api/v1/invoice-items/${f.invoiceItemId}`, otherTenant: 403 }),
  'invoices-create': () => ({
    path: '/api/v1/invoices',
    body: {
      customer_id: f.customerId,
      currency: 'USD',
      items: [{ price_id: f.oneTimePriceId, quantity: 1 }],
    },
    otherTenant: 403,
  }),
  'audit-list': () => ({ path: `/api/v1/audit/customer/${f.customerId}`, otherTenant: 404 }),
  'credit-notes-create': () => ({
    path: `/api/v1/invoices/${f.openInvoiceId}/credit-notes`,
    body: { reason: 'duplicate', lines: [{ invoice_line_id: f.openLineId, amount: 1 }] },
    otherTenant: 403,
  }),
  'credit-notes-list': () => ({ path: `/api/v1/invoices/${f.openInvoiceId}/credit-notes`, otherTenant: 404 }),
  'credit-notes-get': () => ({ path: `/api/v1/credit-notes/${f.creditNoteId}`, otherTenant: 404 }),
  'refunds-create': () => ({
    path: `/api/v1/invoices/${f.openInvoiceId}/refunds`,
    body: { refunded_out_of_band: true, amount: 1 },
    otherTenant: 403,
  }),
  'refunds-list': () => ({ path: `/api/v1/invoices/${f.openInvoiceId}/refunds`, otherTenant: 404 }),
  'invoices-pdf': () => ({ path: `/api/v1/invoices/${f.openInvoiceId}/pdf`, otherTenant: 404 }),
  'hosted-links-create': () => ({
    path: `/api/v1/invoices/${f.openInvoiceId}/hosted-links`,
    body: { expires_in_days: 2 },
    otherTenant: 404,
  }),
  'hosted-links-revoke': () => ({
    path: `/api/v1/invoices/${f.openInvoiceId}/hosted-links`,
    otherTenant: 404,
  }),
  'payment-methods-attach': () => ({
    path: `/api/v1/customers/${f.customerId}/payment-methods`,
    body: { card: { brand: 'visa', last4: '4242', exp_month: 8, exp_year: 2030 } },
    otherTenant: 404,
  }),
  'payment-methods-list': () => ({
    path: `/api/v1/customers/${f.customerId}/payment-methods`,
    otherTenant: 404,
  }),
  'payment-methods-get': () => ({
    path: `/api/v1/customers/${f.customerId}/payment-methods/${f.paymentMethodId}`,
    otherTenant: 404,
  }),
  'payment-methods-set-default': () => ({
    path: `/api/v1/customers/${f.customerId}/payment-methods/${f.paymentMethodId}/default`,
    otherTenant: 404,
  }),
  'payment-methods-detach': () => ({
    path: `/api/v1/customers/${f.customerId}/payment-methods/${f.paymentMethodId}`,
    otherTenant: 404,
  }),
};

/** Routes without an authorizer: the webhook authenticates by signature (below), the OpenAPI document is public. */
/** Routes a token does not open: the webhook (Stripe's signature) and the hosted pages (the link's token). */
const UNAUTHENTICATED = new Set(['stripe-webhook', 'openapi', 'hosted-invoice-page', 'hosted-invoice-pdf']);

beforeAll(async () => {
  process.env.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET;
  service = await startTestService();
  const operator = await service.token(ALL_SCOPES);
  const a = await subscribeOverHttp(service, operator, 'Authz A');
  const b = await subscribeOverHttp(service, operator, 'Authz B');
  const recorded = await service.call('POST', '/api/v1/usage-records', {
    token: operator,
    body: { subscription_id: a.subscription.id, metric: 'calls', quantity: 2, idempotency_key: 'authz-line' },
  });
  expect(recorded.status).toBe(201);
  await closePeriodsAt(service, new Date(new Date(a.subscription.current_period_end).getTime() + 1000));
  const invoices = await service.call('GET', `/api/v1/invoices?customer_id=${a.customer.id}`, {
    token: operator,
  });
  const prices = await service.call('GET', `/api/v1/prices?plan_id=${a.planId}`, { token: operator });
  const plan = await service.call('GET', `/api/v1/plans/${a.planId}`, { token: operator });
  const oneTime = await service.call('POST', '/api/v1/prices', {
    token: operator,
    body: { product_id: plan.body.product_id, model: 'one_time', currency: 'USD', unit_amount: 500 },
  });
  const item = await service.call('POST', '/api/v1/invoice-items', {
    token: operator,
    body: {
      customer_id: a.customer.id,
      subscription_id: a.subscription.id,
      price_id: oneTime.body.id,
      quantity: 1,
    },
  });
  const card = await service.call('POST', `/api/v1/customers/${a.customer.id}/payment-methods`, {
    token: operator,
    body: { card: { brand: 'visa', last4: '4242', exp_month: 8, exp_year: 2030 } },
  });
  const taxRate = await service.call('POST', '/api/v1/tax-rates', {
    token: operator,
    body: { display_name: 'VAT', percentage: '19', inclusive: false, jurisdiction: 'DE' },
  });
  expect(taxRate.status).toBe(201);
  const coupon = await service.call('POST', '/api/v1/coupons', {
    token: operator,
    body: { name: 'Authz', percent_off: '10', duration: 'forever' },
  });
  const discount = await service.call('POST', `/api/v1/customers/${a.customer.id}/discounts`, {
    token: operator,
    body: { coupon_id: coupon.body.id },
  });
  expect(discount.status).toBe(201);
  const oneOff = await service.call('POST', '/api/v1/invoices', {
    token: operator,
    body: {
      customer_id: a.customer.id,
      currency: 'USD',
      items: [{ price_id: oneTime.body.id, quantity: 4 }],
    },
  });
  expect(oneOff.status).toBe(201);
  const creditNote = await service.call('POST', `/api/v1/invoices/${oneOff.body.id}/credit-notes`, {
    token: operator,
    body: { reason: 'duplicate', lines: [{ invoice_line_id: oneOff.body.lines[0].id, amount: 1 }] },
  });
  expect(creditNote.status).toBe(201);
  f = {
    openInvoiceId: oneOff.body.id,
    openLineId: oneOff.body.lines[0].id,
    creditNoteId: creditNote.body.id,
    taxRateId: taxRate.body.id,
    couponId: coupon.body.id,
    discountId: discount.body.id,
    customerId: a.customer.id,
    otherCustomerId: b.customer.id,
    productId: plan.body.product_id,
    planId: a.planId,
    priceId: prices.body.data[0].id,
    subscriptionId: a.subscription.id,
    invoiceId: invoices.body.data[0].id,
    usageLineId: invoices.body.data[0].lines.find((line: { kind: string }) => line.kind === 'usage').id,
    oneTimePriceId: oneTime.body.id,
    invoiceItemId: item.body.id,
    paymentMethodId: card.body.id,
  };
  await service.settled();
});
afterAll(async () => service?.close());

/** The billing table as sorted text, to compare before and after. */
const billingTable = async (): Promise<string[]> =>
  (await service.billingItems()).map((item) => JSON.stringify(item)).sort();

type Caller = {
  name: string;
  token: () => Promise<string | undefined>;
  expected: (sample: Sample) => OtherTenant;
};

const minted = (request: Parameters<typeof mintDevToken>[1]) => () => mintDevToken(service.keys, request);

/** Everything that is wrong about a caller, for JWT routes. `route` gives the scopes to leave out. */
function badCallers(route: RouteDefinition): Caller[] {
  const unauthorized = () => 401 as const;
  return [
    { name: 'no token', token: async () => undefined, expected: unauthorized },
    {
      name: 'expired token',
      token: minted({ scopes: ALL_SCOPES, expiresInSeconds: -120 }),
      expected: unauthorized,
    },
    {
      name: 'wrong issuer',
      token: minted({ scopes: ALL_SCOPES, issuer: 'https://attacker.example/' }),
      expected: unauthorized,
    },
    {
      name: 'wrong audience',
      token: minted({ scopes: ALL_SCOPES, audience: 'another-api' }),
      expected: unauthorized,
    },
    {
      name: 'signed with another key',
      token: async () => {
        const { privateKey } = await generateKeyPair('ES256');
        return new SignJWT({ scope: ALL_SCOPES.join(' ') })
          .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
          .setIssuer(LOCAL_ISSUER)
          .setAudience(LOCAL_AUDIENCE)
          .setSubject('forger')
          .setExpirationTime('1h')
          .sign(privateKey);
      },
      expected: unauthorized,
    },
    {
      name: 'unsigned (alg none)',
      token: async () => {
        const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
        const exp = Math.floor(Date.now() / 1000) + 3600;
        return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ scope: ALL_SCOPES.join(' '), iss: LOCAL_ISSUER, aud: LOCAL_AUDIENCE, sub: 'x', exp })}.`;
      },
      expected: unauthorized,
    },
    {
      name: 'without exp',
      token: () =>
        new SignJWT({ scope: ALL_SCOPES.join(' ') })
          .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
          .setIssuer(LOCAL_ISSUER)
          .setAudience(LOCAL_AUDIENCE)
          .setSubject('no-exp')
          .setIssuedAt()
          .sign(service.keys.privateKey),
      expected: unauthorized,
    },
    {
      name: 'issued in the future',
      token: minted({ scopes: ALL_SCOPES, claims: { iat: Math.floor(Date.now() / 1000) + 3600 } }),
      expected: unauthorized,
    },
    ...(route.auth === 'jwt'
      ? [
          // Found from outside: an empty tenant_id was read as "no tenant", i.e. an operator.
          ...[
            ['empty', ''],
            ['blank', ' '],
            ['numeric', 7],
            ['list', [f.customerId]],
          ].map(([shape, value]) => ({
            name: `${shape} tenant_id`,
            token: minted({ scopes: ALL_SCOPES, claims: { tenant_id: value } }),
            expected: unauthorized,
          })),
          {
            name: 'neither tenant nor operator',
            token: minted({ scopes: ALL_SCOPES, operator: false }),
            expected: () => 403 as const,
          },
          {
            name: 'missing scope',
            token: minted({ scopes: ALL_SCOPES.filter((scope) => !route.scopes.includes(scope)) }),
            expected: () => 403 as const,
          },
          {
            name: 'another tenant',
            token: () => mintDevToken(service.keys, { scopes: ALL_SCOPES, tenantId: f.otherCustomerId }),
            expected: (sample: Sample) => sample.otherTenant,
          },
        ]
      : []),
  ];
}

const authenticated = ROUTES.filter((route) => !UNAUTHENTICATED.has(route.handler));
let requestsTried = 0;

describe('authorization matrix: every route × every bad caller is refused and changes nothing', () => {
  it('has a sample request for every authenticated route', () => {
    const missing = authenticated
      .filter((route) => !SAMPLES[route.handler])
      .map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
  });

  it.each(authenticated.map((route) => [`${route.method} ${route.path}`, route] as const))(
    '%s',
    async (_name, route) => {
      const sample = SAMPLES[route.handler]!(route);
      const before = await billingTable();
      for (const caller of badCallers(route)) {
        const token = await caller.token();
        const response = await service.call(route.method, sample.path, {
          ...(token ? { token } : {}),
          ...(sample.body === undefined ? {} : { body: sample.body }),
          headers: { 'idempotency-key': `authz-${caller.name.replace(/\W/g, '-')}` },
        });
        requestsTried++;
        const expected = caller.expected(sample);
        const context = `${caller.name}: ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`;
        if (expected === 'shared') {
          expect(response.status, context).toBe(200);
        } else if (expected === 'own-only') {
          expect(response.status, context).toBe(200);
          expect(JSON.stringify(response.body), context).not.toContain(f.customerId);
        } else {
          expect(response.status, context).toBe(expected);
          // A refusal tells nothing about the resource (no email, no amounts).
          expect(JSON.stringify(response.body), context).not.toMatch(/@example\.com|"total"/);
        }
      }
      expect(await billingTable()).toEqual(before);
    },
  );

  it('tried every route × case', () => {
    const cases = authenticated.reduce((sum, route) => sum + badCallers(route).length, 0);
    expect(requestsTried).toBe(cases);
    console.log(`authorization matrix: ${authenticated.length} routes, ${requestsTried} refused requests`);
  });
});

describe('the Stripe webhook authenticates by signature', () => {
  const event = JSON.stringify({
    id: 'evt_authz',
    object: 'event',
    type: 'payment_intent.succeeded',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: {
      object: {
        id: 'pi_authz',
        object: 'payment_intent',
        amount: 1,
        amount_received: 1,
        currency: 'usd',
        metadata: {},
      },
    },
  });

  it.each([
    ['no signature', {}],
    ['a garbage signature', { 'stripe-signature': 'nonsense' }],
    [
      'signed with another secret',
      {
        'stripe-signature': Stripe.webhooks.generateTestHeaderString({
          payload: event,
          secret: 'whsec_other',
        }),
      },
    ],
    [
      'a stale timestamp',
      {
        'stripe-signature': Stripe.webhooks.generateTestHeaderString({
          payload: event,
          secret: WEBHOOK_SECRET,
          timestamp: Math.floor(Date.now() / 1000) - 3600,
        }),
      },
    ],
  ])('refuses %s with 400 and records nothing', async (_name, headers: Record<string, string>) => {
    const before = await billingTable();
    const response = await service.call('POST', '/webhooks/stripe', {
      rawBody: event,
      headers: { 'content-type': 'application/json', ...headers },
    });
    expect(response.status).toBe(400);
    expect(response.body.type).toBe('/problems/validation');
    expect(await billingTable()).toEqual(before);
  });
});

describe('the hosted invoice routes authenticate by the link alone', () => {
  it('a link opens its one invoice with no token; an API token opens nothing there, and a link token nothing in the API', async () => {
    const operator = await service.token(ALL_SCOPES);
    const made = await service.call('POST', `/api/v1/invoices/${f.openInvoiceId}/hosted-links`, {
      token: operator,
      body: {},
    });
    expect(made.status).toBe(201);
    const token = String(made.body.url).split('/').pop()!;
    const page = await service.call('GET', `/hosted/invoices/${token}`);
    expect(page.status).toBe(200);
    const invoice = await service.call('GET', `/api/v1/invoices/${f.openInvoiceId}`, { token: operator });
    expect(page.body).toContain(invoice.body.number);

    const before = await billingTable();
    // An API token in the place of a link's, or beside a bad one, opens nothing.
    for (const [path, bearer] of [
      [`/hosted/invoices/${operator}`, undefined],
      [`/hosted/invoices/hil_${'x'.repeat(43)}`, operator],
      [`/hosted/invoices/${token.slice(0, -1)}`, operator],
      [`/hosted/invoices/${token}x/pdf`, undefined],
    ] as const) {
      const refused = await service.call('GET', path, bearer ? { token: bearer } : {});
      expect(refused.status, path).toBe(404);
      expect(String(refused.body)).not.toContain(invoice.body.number);
    }
    // The link's token is no API credential.
    const api = await service.call('GET', `/api/v1/invoices/${f.openInvoiceId}`, { token });
    expect(api.status).toBe(401);
    expect(await billingTable()).toEqual(before);
  });
});
