import fc from 'fast-check';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetConfigCache } from '../../shared/config.ts';
import { ROUTES, type RouteDefinition, SCOPES } from '../../shared/http/routes.ts';
import { CONTRACTS } from '../../shared/schemas/api-contracts.ts';
import type { HandlerContract } from '../../shared/schemas/contract.ts';
import { resetDynamoClient } from '../../shared/store/client.ts';
import { type FakeStripe, startFakeStripe } from '../support/fake-stripe.ts';
import {
  deepNesting,
  hostileCursor,
  hostileLimit,
  hostilePathSegment,
  hostileValue,
  hugeArray,
  hugeString,
  invalidUtf8Body,
  invalidUtf8Choice,
  JSON_LIKE_CONTENT_TYPES,
  jsonText,
  loneSurrogate,
  malformedJson,
  mutate,
  mutation,
  NON_JSON_CONTENT_TYPES,
  POLLUTION_MARKERS,
  prototypeKeyBody,
  replaceAt,
  scalarOrEmptyBody,
  trickyString,
} from '../support/fuzz-arbitraries.ts';
import {
  closeRawClient,
  type DynamoRecorder,
  type RawRequest,
  type RawResponse,
  sendRaw,
  snapshotClient,
  snapshotDiff,
  snapshotTable,
  startDynamoRecorder,
  type TableSnapshot,
} from '../support/fuzz-http.ts';
import { closePeriodsAt, type Subscribed, subscribeOverHttp } from '../support/http-fixtures.ts';
import { startTestService, type TestService } from '../support/local-service.ts';

/**
 * Hostile input, property-based, over every route that takes a JSON body or query/path parameters
 * (derived from ROUTES, so a new route without a generator fails here). For every response:
 * - never a 5xx;
 * - a 4xx from a handler is application/problem+json with a `type`, and a validation 400 names
 *   each invalid field;
 * - a 4xx wrote nothing: no successful write reached DynamoDB while the request was in flight
 *   (a recording proxy sits between the handlers and DynamoDB Local), and the whole billing table
 *   is unchanged across every batch of requests that all answered 4xx (scanned before and after);
 * - Object.prototype of this process (the handlers run in it) is never polluted.
 * Fixed seed, bounded runs: the same requests on every run. `FUZZ_SEED=<n>` explores another part
 * of the space, `FUZZ_SCALE=<x>` multiplies the number of runs.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_419);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
/** Requests per fast-check run: one run is a batch of requests of one family, snapshotted around. */
const BATCH = 8;
/** Runs (batches) per route: routes with a body have more families to cover. */
const RUNS_WITH_BODY = Math.max(1, Math.round(36 * SCALE));
const RUNS_WITHOUT_BODY = Math.max(1, Math.round(22 * SCALE));
const WEBHOOK_SECRET = 'whsec_fuzz_e2e';

type Fixtures = {
  a1: Subscribed;
  a2: Subscribed;
  usage: Subscribed;
  updatable: { id: string; customer_id: string };
  productId: string;
  pricesPlanId: string;
  archivablePriceId: string;
  invoice1: string;
  /** invoice1's usage line (two records). */
  usageLineId: string;
  invoice2: string;
  oneTimePriceId: string;
  /** A pending one-time item of `usage`'s subscription (the DELETE route's target). */
  invoiceItemId: string;
  /** Two cards of the usage customer (so its list has a second page), and a third the fuzz may detach. */
  paymentMethodId: string;
  detachablePaymentMethodId: string;
  /** Two exclusive tax rates (so their list has a second page). */
  taxRateIds: [string, string];
  /** Two coupons (a list with a second page), the first redeemed by the usage customer as `discountId`. */
  couponIds: [string, string];
  discountId: string;
  /** A finalized one-off invoice of the usage customer (its line: `creditableLineId`), and a credit note of it. */
  creditableInvoiceId: string;
  creditableLineId: string;
  creditNoteId: string;
  /** The token of a hosted link to the creditable invoice. */
  hostedLinkToken: string;
  now: string;
  /** A real next_cursor per list route, from a first page of one. */
  cursors: Map<string, string>;
};

/** What a valid request to a route looks like; the fuzz starts from these and breaks them. */
type FuzzSpec = {
  params?: (fx: Fixtures) => Record<string, string>;
  query?: (fx: Fixtures) => Record<string, string>;
  bodies?: (fx: Fixtures) => unknown[];
  /** A route the caller authenticates by signing the body (no JWT). */
  signedWebhook?: true;
};

const routeKey = (route: RouteDefinition) => `${route.method} ${route.path}`;
const pathParamsOf = (route: RouteDefinition) => [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);

const usageRecord = (fx: Fixtures, key: string, quantity: unknown = 2) => ({
  subscription_id: fx.usage.subscription.id,
  metric: 'calls',
  quantity,
  idempotency_key: key,
  timestamp: fx.now,
});
const usageBodies = (fx: Fixtures) => [
  usageRecord(fx, 'fuzz-single'),
  { records: [usageRecord(fx, 'fuzz-batch-1'), usageRecord(fx, 'fuzz-batch-2', '2.5')] },
];
const tiers = [
  { up_to: 1000, unit_amount_decimal: '1', flat_amount: 0 },
  { up_to: null, unit_amount_decimal: '0.5' },
];

const SPECS: Record<string, FuzzSpec> = {
  'POST /api/v1/customers': {
    bodies: () => [
      { name: 'Fuzz Co', email: 'fuzz@example.com', metadata: { tier: 'gold', 'region.eu': 'yes' } },
      { name: 'Fuzz Two', email: 'two@example.com' },
    ],
  },
  'GET /api/v1/customers': { query: () => ({}) },
  'GET /api/v1/customers/{id}': { params: (fx) => ({ id: fx.usage.customer.id }) },
  'PATCH /api/v1/customers/{id}': {
    params: (fx) => ({ id: fx.usage.customer.id }),
    bodies: (fx) => [{ tax_rate_ids: [fx.taxRateIds[0], fx.taxRateIds[1]] }, { tax_rate_ids: [] }],
  },
  'POST /api/v1/tax-rates': {
    bodies: () => [
      { display_name: 'VAT', percentage: '19', inclusive: false, jurisdiction: 'DE' },
      { display_name: 'Sales tax', percentage: '8.875', inclusive: true, description: 'NYC combined' },
    ],
  },
  'GET /api/v1/tax-rates': { query: () => ({}) },
  'POST /api/v1/coupons': {
    bodies: () => [
      {
        name: 'Fuzz 20',
        percent_off: '20',
        duration: 'repeating',
        duration_in_periods: 3,
        max_redemptions: 5,
      },
      {
        name: 'Fuzz 5 off',
        amount_off: 500,
        currency: 'USD',
        duration: 'once',
        redeem_by: '2030-01-01T00:00:00Z',
      },
    ],
  },
  'GET /api/v1/coupons': { query: () => ({}) },
  'GET /api/v1/coupons/{id}': { params: (fx) => ({ id: fx.couponIds[0] }) },
  'POST /api/v1/customers/{id}/discounts': {
    params: (fx) => ({ id: fx.usage.customer.id }),
    bodies: (fx) => [
      { coupon_id: fx.couponIds[1] },
      { coupon_id: fx.couponIds[1], subscription_id: fx.usage.subscription.id },
    ],
  },
  'GET /api/v1/customers/{id}/discounts': { params: (fx) => ({ id: fx.usage.customer.id }) },
  'DELETE /api/v1/customers/{id}/discounts/{discount_id}': {
    params: (fx) => ({ id: fx.usage.customer.id, discount_id: fx.discountId }),
  },
  'GET /api/v1/tax-rates/{id}': { params: (fx) => ({ id: fx.taxRateIds[0] }) },
  'POST /api/v1/products': {
    bodies: () => [{ name: 'Fuzz product', description: 'for the fuzz', metadata: { team: 'billing' } }],
  },
  'GET /api/v1/products': { query: () => ({}) },
  'GET /api/v1/products/{id}': { params: (fx) => ({ id: fx.productId }) },
  'POST /api/v1/plans': {
    bodies: (fx) => [
      {
        product_id: fx.productId,
        name: 'Fuzz plan',
        currency: 'USD',
        interval: 'month',
        total_budget: 10000,
        budget_policy: {
          enforcement: 'hard',
          thresholds: [{ percent: 50 }, { percent: 100, of: 'forecast' }],
          invoice_thresholds: [5000],
        },
        routing_policy: {
          priority: 10,
          match_expression: 'path =~ "/v1/*"',
          strategy: 'weighted',
          targets: ['eu-1', 'us-1'],
        },
      },
      { product_id: fx.productId, name: 'Fuzz yearly', currency: 'eur', interval: 'year', total_budget: 0 },
    ],
  },
  'GET /api/v1/plans': { query: (fx) => ({ product_id: fx.productId }) },
  'GET /api/v1/plans/{id}': { params: (fx) => ({ id: fx.usage.planId }) },
  'POST /api/v1/prices': {
    bodies: (fx) => [
      { plan_id: fx.pricesPlanId, model: 'flat', unit_amount: 1500, nickname: 'base fee' },
      { plan_id: fx.pricesPlanId, model: 'per_unit', metric: 'fuzz.calls', unit_amount_decimal: '0.04' },
      {
        plan_id: fx.pricesPlanId,
        model: 'package',
        metric: 'fuzz.packs',
        unit_amount_decimal: '100',
        package_size: 1000,
      },
      { plan_id: fx.pricesPlanId, model: 'tiered_graduated', metric: 'fuzz.tiers', tiers },
      { plan_id: fx.pricesPlanId, model: 'tiered_volume', metric: 'fuzz.volume', tiers },
      { product_id: fx.productId, model: 'one_time', currency: 'usd', unit_amount: 4900, nickname: 'setup' },
    ],
  },
  'GET /api/v1/prices': { query: (fx) => ({ plan_id: fx.usage.planId }) },
  'GET /api/v1/prices/{id}': { params: (fx) => ({ id: fx.archivablePriceId }) },
  'POST /api/v1/prices/{id}/archive': { params: (fx) => ({ id: fx.archivablePriceId }) },
  'POST /api/v1/subscriptions': {
    bodies: (fx) => [
      { customer_id: fx.usage.customer.id, plan_id: fx.usage.planId, trial_days: 14, total_budget: 100 },
      { customer_id: fx.usage.customer.id, plan_id: fx.usage.planId },
    ],
  },
  'GET /api/v1/subscriptions': { query: (fx) => ({ customer_id: fx.usage.customer.id }) },
  'GET /api/v1/subscriptions/{id}': { params: (fx) => ({ id: fx.usage.subscription.id }) },
  'PATCH /api/v1/subscriptions/{id}': {
    params: (fx) => ({ id: fx.updatable.id }),
    bodies: (fx) => [
      { total_budget: 6000 },
      { default_tax_rate_ids: [fx.taxRateIds[1]] },
      { cancel_at_period_end: false },
      { plan_id: fx.usage.planId, total_budget: 4000, version: 2 },
      { items: [{ plan_id: fx.usage.planId, quantity: 2 }], proration_behavior: 'none' },
      {
        budget_policy: {
          enforcement: 'soft',
          thresholds: [{ percent: 80 }, { amount: 500, of: 'forecast' }],
          invoice_thresholds: [1000, 2000],
        },
      },
    ],
  },
  'GET /api/v1/subscriptions/{id}/usage': {
    params: (fx) => ({ id: fx.usage.subscription.id }),
    query: (fx) => ({ metric: 'calls', at: fx.now }),
  },
  'GET /api/v1/subscriptions/{id}/upcoming-invoice': {
    params: (fx) => ({ id: fx.usage.subscription.id }),
    query: (fx) => ({ plan_id: fx.usage.planId, proration_behavior: 'always_invoice' }),
  },
  'GET /api/v1/subscriptions/{id}/budget': { params: (fx) => ({ id: fx.usage.subscription.id }) },
  'POST /api/v1/usage-records': { bodies: usageBodies },
  'POST /internal/v1/usage-records': { bodies: usageBodies },
  'POST /api/v1/invoice-items': {
    bodies: (fx) => [
      {
        customer_id: fx.usage.customer.id,
        subscription_id: fx.usage.subscription.id,
        price_id: fx.oneTimePriceId,
        quantity: 2,
        description: 'Fuzz setup',
      },
    ],
  },
  'GET /api/v1/invoice-items': { query: (fx) => ({ subscription_id: fx.usage.subscription.id }) },
  'DELETE /api/v1/invoice-items/{id}': { params: (fx) => ({ id: fx.invoiceItemId }) },
  'POST /api/v1/invoices': {
    bodies: (fx) => [
      {
        customer_id: fx.usage.customer.id,
        currency: 'USD',
        items: [
          { price_id: fx.oneTimePriceId, quantity: 1 },
          { price_id: fx.oneTimePriceId, quantity: 3, description: 'Three more' },
        ],
      },
    ],
  },
  'GET /api/v1/invoices': { query: () => ({ status: 'draft' }) },
  'GET /api/v1/invoices/{id}': { params: (fx) => ({ id: fx.invoice1 }) },
  'GET /api/v1/invoices/{id}/lines/{line_id}/usage-records': {
    params: (fx) => ({ id: fx.invoice1, line_id: fx.usageLineId }),
    query: () => ({}),
  },
  'GET /api/v1/subscriptions/{id}/usage-records': {
    params: (fx) => ({ id: fx.usage.subscription.id }),
    query: () => ({ metric: 'calls' }),
  },
  'POST /api/v1/invoices/{id}/finalize': { params: (fx) => ({ id: fx.invoice1 }) },
  'POST /api/v1/invoices/{id}/void': { params: (fx) => ({ id: fx.invoice2 }) },
  'POST /api/v1/invoices/{id}/mark-uncollectible': { params: (fx) => ({ id: fx.invoice1 }) },
  'POST /api/v1/invoices/{id}/credit-notes': {
    params: (fx) => ({ id: fx.creditableInvoiceId }),
    bodies: (fx) => [
      {
        reason: 'order_change',
        memo: 'A fuzzed correction',
        lines: [{ invoice_line_id: fx.creditableLineId, amount: 100 }],
      },
      { reason: 'product_unsatisfactory', lines: [{ invoice_line_id: fx.creditableLineId, quantity: '1' }] },
      { reason: 'duplicate', post_payment_to: 'out_of_band' },
    ],
  },
  'GET /api/v1/invoices/{id}/credit-notes': { params: (fx) => ({ id: fx.creditableInvoiceId }) },
  'GET /api/v1/credit-notes/{id}': { params: (fx) => ({ id: fx.creditNoteId }) },
  'POST /api/v1/invoices/{id}/refunds': {
    params: (fx) => ({ id: fx.creditableInvoiceId }),
    bodies: (fx) => [
      { refunded_out_of_band: true, amount: 10 },
      { payment_id: `oob_${fx.creditableInvoiceId}`, refunded_out_of_band: true },
    ],
  },
  'GET /api/v1/invoices/{id}/refunds': { params: (fx) => ({ id: fx.creditableInvoiceId }) },
  'GET /api/v1/invoices/{id}/pdf': { params: (fx) => ({ id: fx.creditableInvoiceId }) },
  'POST /api/v1/invoices/{id}/hosted-links': {
    params: (fx) => ({ id: fx.creditableInvoiceId }),
    bodies: () => [{}, { expires_in_days: 7 }, { expires_in_days: 90 }],
  },
  // Another invoice than the hosted link's below: a revoke that succeeds leaves that link working.
  'DELETE /api/v1/invoices/{id}/hosted-links': { params: (fx) => ({ id: fx.invoice2 }) },
  'GET /hosted/invoices/{token}': { params: (fx) => ({ token: fx.hostedLinkToken }) },
  'GET /hosted/invoices/{token}/pdf': { params: (fx) => ({ token: fx.hostedLinkToken }) },
  'POST /api/v1/invoices/{id}/pay': {
    params: (fx) => ({ id: fx.invoice1 }),
    bodies: (fx) => [{ paid_out_of_band: true }, {}, { payment_method_id: fx.paymentMethodId }],
  },
  'POST /api/v1/customers/{id}/payment-methods': {
    params: (fx) => ({ id: fx.usage.customer.id }),
    bodies: () => [
      { payment_method: 'pm_card_visa' },
      { payment_method: 'pm_card_mastercard', set_default: true },
    ],
  },
  'GET /api/v1/customers/{id}/payment-methods': {
    params: (fx) => ({ id: fx.usage.customer.id }),
    query: () => ({}),
  },
  'GET /api/v1/customers/{id}/payment-methods/{pm_id}': {
    params: (fx) => ({ id: fx.usage.customer.id, pm_id: fx.paymentMethodId }),
  },
  'POST /api/v1/customers/{id}/payment-methods/{pm_id}/default': {
    params: (fx) => ({ id: fx.usage.customer.id, pm_id: fx.paymentMethodId }),
  },
  'DELETE /api/v1/customers/{id}/payment-methods/{pm_id}': {
    params: (fx) => ({ id: fx.usage.customer.id, pm_id: fx.detachablePaymentMethodId }),
  },
  'GET /api/v1/audit/{entity_type}/{entity_id}': {
    params: (fx) => ({ entity_type: 'subscription', entity_id: fx.updatable.id }),
    query: () => ({}),
  },
  'POST /webhooks/stripe': { signedWebhook: true },
};

/** Every route that takes input a caller controls: a body, a query or path parameters. */
const FUZZED_ROUTES = ROUTES.filter((route) => {
  const contract = CONTRACTS[route.handler];
  if (!contract) return true; // no contract at all: the completeness test reports it
  return Boolean(
    contract.body || contract.rawBody || contract.query || contract.params || pathParamsOf(route).length > 0,
  );
});

/** Why a route cannot be fuzzed as it stands (empty when its spec covers all it takes). */
function specGaps(route: RouteDefinition): string[] {
  const key = routeKey(route);
  const spec = SPECS[key];
  const contract = CONTRACTS[route.handler];
  if (!contract) return [`${key}: handler ${route.handler} has no contract in CONTRACTS`];
  if (!spec) return [`${key}: no fuzz generator in SPECS (test/e2e/fuzz.e2e.test.ts)`];
  const gaps: string[] = [];
  if (contract.body && !spec.bodies) gaps.push(`${key}: takes a body but its spec has no valid bodies`);
  if (contract.rawBody && !spec.signedWebhook) gaps.push(`${key}: takes a raw body but is not fuzzed as one`);
  if (contract.query && !spec.query) gaps.push(`${key}: takes a query but its spec has none`);
  if (pathParamsOf(route).length > 0 && !spec.params) gaps.push(`${key}: has path parameters but no spec`);
  return gaps;
}

// ---- the service --------------------------------------------------------------------------

let service: TestService;
let stripe: FakeStripe;
let recorder: DynamoRecorder;
let scanner: ReturnType<typeof snapshotClient>;
let operatorToken: string;
let tenantToken: string;
let fx: Fixtures;
let baseline: TableSnapshot;
const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();

type RouteStats = {
  requests: number;
  statuses: Map<number, number>;
  batches: number;
  /** Batches that answered 4xx only, whose table snapshots were compared. */
  cleanBatches: number;
  fourxxInCleanBatches: number;
};
const stats = new Map<string, RouteStats>();

beforeAll(async () => {
  stripe = await startFakeStripe();
  Object.assign(process.env, {
    STRIPE_SECRET_KEY: 'sk_test_fuzz_e2e',
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: stripe.url,
  });
  service = await startTestService();
  // The handlers reach DynamoDB through the recorder from here on (the stream poller keeps its own client).
  recorder = await startDynamoRecorder(service.dynamoDbEndpoint);
  process.env.DYNAMODB_ENDPOINT = recorder.url;
  resetConfigCache();
  resetDynamoClient();
  scanner = snapshotClient(service.dynamoDbEndpoint);
  operatorToken = await service.token(Object.values(SCOPES));
  fx = await createFixtures();
  tenantToken = await service.token(Object.values(SCOPES), { tenantId: fx.usage.customer.id });
  expect(recorder.writesSince(0, service.tables.billing).length).toBeGreaterThan(0);
  // Every list has a second page, so every cursor the fuzz edits is a real one.
  const paged = FUZZED_ROUTES.filter((route) => 'cursor' in (CONTRACTS[route.handler]?.query?.shape ?? {}));
  expect([...fx.cursors.keys()].sort()).toEqual(paged.map(routeKey).sort());
  await service.settled();
  baseline = await snapshotTable(scanner, service.tables.billing);
}, 120_000);

afterAll(async () => {
  printSummary();
  closeRawClient();
  await service?.close();
  await recorder?.stop();
  scanner?.destroy();
  await stripe?.stop();
});

async function createFixtures(): Promise<Fixtures> {
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await service.call(method, path, {
      token: operatorToken,
      ...(body === undefined ? {} : { body }),
    });
    if (response.status >= 300) {
      throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(response.body)}`);
    }
    return response.body;
  };
  const a1 = await subscribeOverHttp(service, operatorToken, 'FuzzA');
  const a2 = await subscribeOverHttp(service, operatorToken, 'FuzzB');
  // Two records on a1's invoice, so its usage line has a second page of records to fuzz the cursor of.
  await call('POST', '/api/v1/usage-records', {
    records: ['line-1', 'line-2'].map((key) => ({
      subscription_id: a1.subscription.id,
      metric: 'calls',
      quantity: 1,
      idempotency_key: key,
    })),
  });
  const lastEnd = Math.max(
    new Date(a1.subscription.current_period_end).getTime(),
    new Date(a2.subscription.current_period_end).getTime(),
  );
  await closePeriodsAt(service, new Date(lastEnd + 1000));
  // Created after the close, so its period is still open to usage.
  const usage = await subscribeOverHttp(service, operatorToken, 'FuzzUsage');
  const updatable = await call('POST', '/api/v1/subscriptions', {
    customer_id: usage.customer.id,
    plan_id: usage.planId,
  });
  await call('PATCH', `/api/v1/subscriptions/${updatable.id}`, { total_budget: 7000 });
  const plan = await call('GET', `/api/v1/plans/${usage.planId}`);
  const pricesPlan = await call('POST', '/api/v1/plans', {
    product_id: plan.product_id,
    name: 'Fuzz prices',
    currency: 'USD',
    interval: 'month',
    total_budget: 1000,
  });
  const archivable = await call('POST', '/api/v1/prices', {
    plan_id: pricesPlan.id,
    model: 'per_unit',
    metric: 'archive.me',
    unit_amount_decimal: '1',
  });
  const now = new Date().toISOString();
  await call('POST', '/api/v1/usage-records', {
    subscription_id: usage.subscription.id,
    metric: 'calls',
    quantity: 3,
    idempotency_key: 'fixture-1',
  });
  await call('POST', '/api/v1/usage-records', {
    subscription_id: usage.subscription.id,
    metric: 'calls',
    quantity: 2,
    idempotency_key: 'fixture-2',
  });
  const oneTime = await call('POST', '/api/v1/prices', {
    product_id: plan.product_id,
    model: 'one_time',
    currency: 'USD',
    unit_amount: 4900,
  });
  // Two items, so the list of the subscription's items has a second page.
  const items = [];
  for (const quantity of [1, 2]) {
    items.push(
      await call('POST', '/api/v1/invoice-items', {
        customer_id: usage.customer.id,
        subscription_id: usage.subscription.id,
        price_id: oneTime.id,
        quantity,
      }),
    );
  }
  const card = async (token: string) =>
    (await call('POST', `/api/v1/customers/${usage.customer.id}/payment-methods`, { payment_method: token }))
      .id as string;
  const paymentMethodId = await card('pm_card_visa');
  await card('pm_card_amex');
  const detachablePaymentMethodId = await card('pm_card_mastercard');
  const taxRateIds: [string, string] = [
    (await call('POST', '/api/v1/tax-rates', { display_name: 'GST', percentage: '5', inclusive: false })).id,
    (await call('POST', '/api/v1/tax-rates', { display_name: 'QST', percentage: '9.975', inclusive: false }))
      .id,
  ];
  const couponIds: [string, string] = [
    (await call('POST', '/api/v1/coupons', { name: 'Fixture 10', percent_off: '10', duration: 'forever' }))
      .id,
    (
      await call('POST', '/api/v1/coupons', {
        name: 'Fixture 1 off',
        amount_off: 100,
        currency: 'USD',
        duration: 'once',
      })
    ).id,
  ];
  const discountId = (
    await call('POST', `/api/v1/customers/${usage.customer.id}/discounts`, { coupon_id: couponIds[0] })
  ).id as string;
  const creditable = await call('POST', '/api/v1/invoices', {
    customer_id: usage.customer.id,
    currency: 'USD',
    items: [{ price_id: oneTime.id, quantity: 40 }],
  });
  // Paid elsewhere, then a unit credited to the customer's balance: refundable, out of band.
  await call('POST', `/api/v1/invoices/${creditable.id}/pay`, { paid_out_of_band: true });
  const creditNote = await call('POST', `/api/v1/invoices/${creditable.id}/credit-notes`, {
    reason: 'duplicate',
    lines: [{ invoice_line_id: creditable.lines[0].id, quantity: '1' }],
  });
  const hostedLink = await call('POST', `/api/v1/invoices/${creditable.id}/hosted-links`, {});
  const invoiceOf = async (customerId: string) =>
    (await call('GET', `/api/v1/invoices?customer_id=${customerId}`)).data[0].id as string;
  const invoice1 = await invoiceOf(a1.customer.id);
  const partial = {
    a1,
    a2,
    usage,
    updatable,
    productId: plan.product_id as string,
    pricesPlanId: pricesPlan.id as string,
    archivablePriceId: archivable.id as string,
    invoice1,
    usageLineId: (await call('GET', `/api/v1/invoices/${invoice1}`)).lines.find(
      (line: { kind: string }) => line.kind === 'usage',
    ).id as string,
    invoice2: await invoiceOf(a2.customer.id),
    oneTimePriceId: oneTime.id as string,
    invoiceItemId: items[0].id as string,
    paymentMethodId,
    detachablePaymentMethodId,
    taxRateIds,
    couponIds,
    discountId,
    creditableInvoiceId: creditable.id as string,
    creditableLineId: creditable.lines[0].id as string,
    creditNoteId: creditNote.id as string,
    hostedLinkToken: String(hostedLink.url).split('/').pop()!,
    now,
    cursors: new Map<string, string>(),
  };
  for (const route of FUZZED_ROUTES) {
    const spec = SPECS[routeKey(route)];
    const shape = CONTRACTS[route.handler]?.query?.shape ?? {};
    if (!spec || !('cursor' in shape)) continue;
    const path = buildPath(route, spec.params?.(partial) ?? {}, {
      ...(spec.query?.(partial) ?? {}),
      limit: '1',
    });
    const page = await call(route.method, path);
    if (!page.next_cursor) continue;
    partial.cursors.set(routeKey(route), page.next_cursor);
    // The cursor as issued still opens the next page: the fuzz edits a cursor that works.
    await call(route.method, `${path}&cursor=${encodeURIComponent(page.next_cursor)}`);
  }
  return partial;
}

// ---- building requests --------------------------------------------------------------------

function buildPath(
  route: RouteDefinition,
  params: Record<string, string>,
  query?: Record<string, string> | string,
  rawSegments: Record<string, string> = {},
): string {
  const path = route.path.replace(/\{(\w+)\}/g, (_m, name: string) =>
    name in rawSegments ? rawSegments[name]! : encodeURIComponent(params[name] ?? ''),
  );
  const search = typeof query === 'string' ? query : new URLSearchParams(query ?? {}).toString();
  return search ? `${path}?${search}` : path;
}

type FuzzCase = {
  family: string;
  tenant: boolean;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string | undefined;
  /** An outcome this input must have beyond the general rules (e.g. 415 for a text/plain body). */
  expect?: (response: RawResponse) => string | undefined;
};

type Family = {
  name: string;
  weight: number;
  arbitrary: fc.Arbitrary<Omit<FuzzCase, 'family' | 'tenant' | 'method'>>;
};

const expectStatus =
  (allowed: readonly number[], type?: string) =>
  (response: RawResponse): string | undefined => {
    if (!allowed.includes(response.status)) return `expected ${allowed.join('/')}, got ${response.status}`;
    const problemType = (response.json as { type?: unknown } | undefined)?.type;
    if (type && response.status === allowed[0] && problemType !== type) {
      return `expected problem type ${type}, got ${String(problemType)}`;
    }
    return undefined;
  };

function familiesFor(route: RouteDefinition, spec: FuzzSpec, contract: HandlerContract): Family[] {
  const params = spec.params?.(fx) ?? {};
  const query = spec.query?.(fx);
  const validPath = buildPath(route, params, route.method === 'GET' ? query : undefined);
  const json = { 'content-type': 'application/json' };
  const bodies = spec.bodies?.(fx);
  const withBody = (body: unknown, extra: Partial<FuzzCase> = {}) => ({
    path: validPath,
    headers: json,
    body: jsonText(body),
    ...extra,
  });
  const families: Family[] = [
    {
      // The request as a client would send it: real state transitions, and the refusals of business
      // rules (a tenant token on an operator route, a second finalize) must write nothing either.
      name: 'as-is',
      weight: 1,
      arbitrary: bodies
        ? fc.constantFrom(...bodies).map((body) => withBody(body))
        : fc.constant({ path: validPath, headers: {} }),
    },
  ];

  if (bodies) {
    const valid = fc.constantFrom(...bodies);
    const notJsonObject = expectStatus([400], '/problems/validation');
    families.push(
      {
        name: 'mutated-body',
        weight: 10,
        arbitrary: fc
          .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 }))
          .map(([body, mutations]) => withBody(mutate(body, mutations))),
      },
      {
        name: 'random-json',
        weight: 2,
        arbitrary: fc
          .oneof(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(trickyString, hostileValue, { maxKeys: 8 }))
          .map((body) => withBody(body)),
      },
      {
        name: 'huge-string',
        weight: 2,
        arbitrary: fc
          .tuple(valid, fc.nat(), hugeString, fc.boolean())
          .map(([body, pick, big, whole]) => withBody(whole ? big : replaceAt(body, pick, big))),
      },
      {
        name: 'huge-array',
        weight: 2,
        arbitrary: fc
          .tuple(valid, fc.nat(), hugeArray, fc.boolean())
          .map(([body, pick, big, whole]) => withBody(whole ? big : replaceAt(body, pick, big))),
      },
      {
        name: 'deep-nesting',
        weight: 2,
        arbitrary: fc
          .tuple(valid, fc.nat(), deepNesting, fc.boolean())
          .map(([body, pick, deep, whole]) => withBody(whole ? deep : replaceAt(body, pick, deep))),
      },
      {
        name: 'prototype-keys',
        weight: 3,
        arbitrary: valid.chain((body) => prototypeKeyBody(body)).map((body) => withBody(body)),
      },
      {
        name: 'invalid-utf8',
        weight: 3,
        arbitrary: fc.tuple(valid, invalidUtf8Choice).map(([body, choice]) => ({
          ...withBody(body),
          body: invalidUtf8Body(jsonText(body), choice),
          expect: expectStatus([400], '/problems/malformed-json'),
        })),
      },
      {
        name: 'content-type',
        weight: 2,
        arbitrary: fc
          .tuple(valid, fc.constantFrom(...NON_JSON_CONTENT_TYPES, ...JSON_LIKE_CONTENT_TYPES, undefined))
          .map(([body, type]) => ({
            path: validPath,
            headers: (type === undefined ? {} : { 'content-type': type }) as Record<string, string>,
            body: jsonText(body),
            ...((JSON_LIKE_CONTENT_TYPES as readonly (string | undefined)[]).includes(type)
              ? {}
              : { expect: expectStatus([415], '/problems/unsupported-media-type') }),
          })),
      },
      {
        name: 'empty-or-scalar',
        weight: 2,
        arbitrary: fc.oneof(
          scalarOrEmptyBody.map((text) => ({
            path: validPath,
            headers: json,
            body: text,
            ...(/^\s*$|^\{\}$/.test(text) ? {} : { expect: expectStatus([400]) }),
          })),
          fc.constant({ path: validPath, headers: json }),
          fc.constant({ path: validPath, headers: {} }),
          fc.constantFrom('null', '[]', '"x"', '0', 'true', '[{}]').map((text) => ({
            path: validPath,
            headers: json,
            body: text,
            expect: notJsonObject,
          })),
        ),
      },
      {
        name: 'malformed-json',
        weight: 1,
        arbitrary: malformedJson.map((text) => ({
          path: validPath,
          headers: json,
          body: text,
          expect: expectStatus([400], '/problems/malformed-json'),
        })),
      },
      {
        name: 'lone-surrogate',
        weight: 1,
        arbitrary: fc
          .tuple(valid, fc.nat(), loneSurrogate)
          .map(([body, pick, text]) => withBody(replaceAt(body, pick, text))),
      },
    );
  } else if (contract.problemMediaType) {
    // A page for a person's browser, which sends no body: any body is refused with a 400 page.
    families.push({
      name: 'unexpected-body',
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom('application/json', ...NON_JSON_CONTENT_TYPES), fc.jsonValue({ maxDepth: 2 }))
        .map(([type, body]) => ({
          path: validPath,
          headers: { 'content-type': type },
          body: JSON.stringify(body),
          expect: expectStatus([400]),
        })),
    });
  } else {
    // No body taken: any JSON body is refused, anything not JSON is 415.
    families.push({
      name: 'unexpected-body',
      weight: 3,
      arbitrary: fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((body) => ({
          path: validPath,
          headers: json,
          body: JSON.stringify(body),
          expect: expectStatus([400], '/problems/validation'),
        })),
        fc
          .tuple(fc.constantFrom(...NON_JSON_CONTENT_TYPES), fc.jsonValue({ maxDepth: 2 }))
          .map(([type, body]) => ({
            path: validPath,
            headers: { 'content-type': type },
            body: JSON.stringify(body),
            expect: expectStatus([415]),
          })),
        fc.tuple(fc.constantFrom({}, []), invalidUtf8Choice).map(([body, choice]) => ({
          path: validPath,
          headers: json,
          body: invalidUtf8Body(JSON.stringify(body), choice),
          expect: expectStatus([400], '/problems/malformed-json'),
        })),
        fc.oneof(deepNesting, hugeArray).map((raw) => ({
          path: validPath,
          headers: json,
          body: raw.text,
          expect: expectStatus([400, 413]),
        })),
      ),
    });
  }

  const paramNames = pathParamsOf(route);
  if (paramNames.length > 0) {
    families.push({
      name: 'path-param',
      weight: bodies ? 3 : 6,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...paramNames),
          hostilePathSegment,
          bodies ? fc.constantFrom(...bodies) : fc.constant(undefined),
        )
        .map(([name, segment, body]) => ({
          path: buildPath(route, params, route.method === 'GET' ? query : undefined, { [name]: segment }),
          headers: body === undefined ? {} : json,
          ...(body === undefined ? {} : { body: jsonText(body) }),
        })),
    });
  }

  if (contract.query) {
    const known = Object.keys(contract.query.shape);
    const cursor = hostileCursor(fx.cursors.get(routeKey(route)));
    const entry = fc.oneof(
      fc
        .constantFrom(...known)
        .chain((name) =>
          (name === 'limit' ? hostileLimit : name === 'cursor' ? cursor : trickyString).map((value) => [
            name,
            value,
          ]),
        ),
      fc.tuple(
        fc.constantFrom(
          'x',
          '__proto__',
          'constructor',
          'toString',
          'hasOwnProperty',
          '',
          'limit[]',
          'LIMIT',
          'Cursor',
        ),
        trickyString,
      ),
    );
    families.push({
      name: 'query',
      weight: 6,
      arbitrary: fc
        .tuple(
          fc.subarray(Object.entries(query ?? {})),
          fc.array(entry, { minLength: 1, maxLength: 4 }),
          fc.boolean(),
        )
        .map(([kept, hostile, rawValues]) => {
          const encode = (text: string) => {
            try {
              return encodeURIComponent(text);
            } catch {
              return '%ED%A0%80';
            }
          };
          const search = [...kept, ...hostile]
            .map(
              ([name, value]) =>
                `${encode(name!)}=${rawValues && /^[\x21-\x7e]*$/.test(value!) ? value : encode(value!)}`,
            )
            .join('&');
          return { path: buildPath(route, params, search), headers: {} };
        }),
    });
  }

  if (contract.idempotent || contract.ifMatch) {
    families.push({
      name: 'headers',
      weight: 3,
      arbitrary: fc
        .tuple(
          bodies
            ? fc.oneof(
                fc.constantFrom(...bodies),
                fc
                  .tuple(fc.constantFrom(...bodies), fc.array(mutation, { maxLength: 2 }))
                  .map(([b, m]) => mutate(b, m)),
              )
            : fc.constant(undefined),
          fc.option(
            fc.constantFrom(
              '',
              ' ',
              'a'.repeat(256),
              'a b',
              'a/b',
              '\u00ff',
              '%00',
              '"x"',
              'a,b',
              'fuzz-fixed-key',
            ),
          ),
          fc.option(
            fc.constantFrom(
              '"1"',
              'W/"2"',
              '*',
              '"abc"',
              '""',
              '"999999999999999"',
              '"9999999999999999"',
              '1',
              '"1", "2"',
              ' ',
              '"-1"',
              'W/',
              '"1',
            ),
          ),
        )
        .map(([body, key, ifMatch]) => ({
          path: validPath,
          headers: {
            ...(body === undefined ? {} : json),
            ...(key === null ? {} : { 'idempotency-key': key }),
            ...(ifMatch === null ? {} : { 'if-match': ifMatch }),
          },
          ...(body === undefined ? {} : { body: jsonText(body) }),
        })),
    });
  }
  return families;
}

/** The Stripe webhook: whatever the body, without a good signature it is a 400 and nothing happens. */
function webhookFamilies(): Family[] {
  const event = (invoiceId: string) => ({
    id: 'evt_fuzz',
    object: 'event',
    type: 'payment_intent.succeeded',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: {
      object: {
        id: 'pi_fuzz',
        object: 'payment_intent',
        amount: 2500,
        amount_received: 2500,
        currency: 'usd',
        status: 'succeeded',
        metadata: { billing_invoice_id: invoiceId, billing_attempt: '1' },
      },
    },
  });
  const payload = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.array(mutation, { maxLength: 3 }).map((m) => jsonText(mutate(event(fx.invoice2), m))),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.oneof(hugeString, hugeArray, deepNesting).map((raw) => raw.text) },
    { weight: 1, arbitrary: malformedJson },
    {
      weight: 1,
      arbitrary: invalidUtf8Choice.map((choice) =>
        invalidUtf8Body(JSON.stringify(event(fx.invoice2)), choice),
      ),
    },
  );
  const bodyText = (body: string | Buffer) => (Buffer.isBuffer(body) ? body.toString('utf8') : body);
  const signature = (body: string | Buffer) =>
    fc.oneof(
      fc.string({ maxLength: 120 }).map((s) => s.replace(/[^\x20-\x7e]/g, 'x')),
      fc.constantFrom('', 't=', 'v1=', 't=,v1=', 't=abc,v1=abc', 'a'.repeat(8000)),
      fc.constant(`t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`),
      // Well-formed, but with the wrong secret, over another payload, too old, or the wrong scheme.
      fc
        .constantFrom('whsec_wrong', '', WEBHOOK_SECRET.toUpperCase())
        .map((secret) =>
          Stripe.webhooks.generateTestHeaderString({ payload: bodyText(body), secret: secret || 'x' }),
        ),
      fc.constant(
        Stripe.webhooks.generateTestHeaderString({ payload: `${bodyText(body)} `, secret: WEBHOOK_SECRET }),
      ),
      fc.constant(
        Stripe.webhooks.generateTestHeaderString({
          payload: bodyText(body),
          secret: WEBHOOK_SECRET,
          timestamp: Math.floor(Date.now() / 1000) - 3600,
        }),
      ),
      fc.constant(
        Stripe.webhooks
          .generateTestHeaderString({ payload: bodyText(body), secret: WEBHOOK_SECRET })
          .replace('v1=', 'v0='),
      ),
    );
  const refused = expectStatus([400, 413]);
  return [
    {
      name: 'webhook-unsigned',
      weight: 1,
      arbitrary: fc
        .tuple(
          payload,
          fc.constantFrom<Record<string, string>>(
            { 'content-type': 'application/json' },
            {},
            { 'content-type': 'text/plain' },
          ),
        )
        .map(([body, headers]) => ({
          path: '/webhooks/stripe',
          headers,
          body,
          expect: refused,
        })),
    },
    {
      name: 'webhook-bad-signature',
      weight: 2,
      arbitrary: payload.chain((body) =>
        signature(body).map((header) => ({
          path: '/webhooks/stripe',
          headers: { 'content-type': 'application/json', 'stripe-signature': header },
          body,
          expect: refused,
        })),
      ),
    },
  ];
}

// ---- checking responses -------------------------------------------------------------------

/**
 * Answers from before any Lambda: the gateway's own `{"message"}` (route not matched, path that does
 * not decode), or the HTTP server's bare 400 for a request line it cannot parse (raw bytes over 0x7f).
 */
const isGatewayReply = (response: RawResponse) =>
  (response.status === 400 && response.text === '' && response.contentType === '') ||
  (/^application\/json/.test(response.contentType) &&
    typeof (response.json as { message?: unknown } | undefined)?.message === 'string' &&
    Object.keys(response.json as object).length === 1);

function responseProblems(fuzzCase: FuzzCase, response: RawResponse, contract: HandlerContract): string[] {
  const problems: string[] = [];
  const { status } = response;
  if (status >= 500) return [`answered ${status}: ${response.text.slice(0, 300)}`];
  if (status < 200 || (status >= 300 && status < 400)) problems.push(`unexpected status ${status}`);
  if (status >= 400 && contract.problemMediaType && !isGatewayReply(response)) {
    // A page for a person (the hosted invoice routes): of its media type, and saying something.
    if (!response.contentType.startsWith(contract.problemMediaType)) {
      problems.push(`a ${status} that is not ${contract.problemMediaType} (${response.contentType})`);
    }
    if (response.text.trim() === '') problems.push(`an empty ${status} page`);
  } else if (status >= 400) {
    if (isGatewayReply(response)) {
      // Only a mangled path can miss the route or be refused by the gateway: every token is valid.
      if (fuzzCase.family !== 'path-param' || ![400, 404].includes(status)) {
        problems.push(`gateway answered ${status} ${response.text}`);
      }
    } else {
      const body = response.json as
        | { type?: unknown; title?: unknown; status?: unknown; detail?: unknown; errors?: unknown }
        | undefined;
      if (!/^application\/problem\+json/.test(response.contentType)) {
        problems.push(`a ${status} that is not application/problem+json (${response.contentType})`);
      }
      if (typeof body?.type !== 'string' || !body.type.startsWith('/problems/')) {
        problems.push(`a ${status} without a problem type: ${response.text.slice(0, 200)}`);
      } else {
        if (body.status !== status) problems.push(`problem status ${String(body.status)} on a ${status}`);
        if (typeof body.title !== 'string' || typeof body.detail !== 'string') {
          problems.push('a problem without title or detail');
        }
        if (body.type === '/problems/validation') {
          const errors = body.errors as { field?: unknown; message?: unknown }[] | undefined;
          if (
            !Array.isArray(errors) ||
            errors.length === 0 ||
            !errors.every(
              (e) => typeof e.field === 'string' && e.field !== '' && typeof e.message === 'string',
            )
          ) {
            problems.push(
              `a validation problem whose errors do not name fields: ${response.text.slice(0, 300)}`,
            );
          }
        }
      }
    }
  } else if (status >= 200 && status < 300 && contract.success.mediaType) {
    // A document (a PDF, a page): of the contract's media type, and not empty.
    if (!response.contentType.startsWith(contract.success.mediaType)) {
      problems.push(`a ${status} that is not ${contract.success.mediaType} (${response.contentType})`);
    }
    if (response.text === '') problems.push(`an empty ${status} document`);
  } else if (status >= 200 && status < 300 && response.text !== '' && response.json === undefined) {
    problems.push(`a ${status} whose body is not JSON`);
  }
  const expected = fuzzCase.expect?.(response);
  if (expected) problems.push(`${expected}: ${response.text.slice(0, 200)}`);
  return problems;
}

function describeCase(fuzzCase: FuzzCase): string {
  const body = fuzzCase.body;
  const shown =
    body === undefined
      ? '(none)'
      : Buffer.isBuffer(body)
        ? `bytes ${body.subarray(0, 120).toString('hex')}${body.length > 120 ? `… (${body.length} bytes)` : ''}`
        : body.length > 300
          ? `${JSON.stringify(body.slice(0, 200))}… (${body.length} chars)`
          : JSON.stringify(body);
  const path =
    fuzzCase.path.length > 200 ? `${fuzzCase.path.slice(0, 200)}… (${fuzzCase.path.length})` : fuzzCase.path;
  return `[${fuzzCase.family}${fuzzCase.tenant ? ', tenant token' : ''}] ${fuzzCase.method} ${path} headers=${JSON.stringify(fuzzCase.headers)} body=${shown}`;
}

function pollutionProblems(): string[] {
  const problems: string[] = [];
  const names = Object.getOwnPropertyNames(Object.prototype).sort();
  if (names.join() !== prototypeBefore.join()) {
    problems.push(`Object.prototype now has ${names.filter((n) => !prototypeBefore.includes(n)).join(', ')}`);
  }
  for (const marker of POLLUTION_MARKERS) {
    if (({} as Record<string, unknown>)[marker] !== undefined) problems.push(`({}).${marker} is defined`);
  }
  return problems;
}

// ---- running ------------------------------------------------------------------------------

async function fuzzRoute(route: RouteDefinition, families: Family[], runs: number): Promise<string[]> {
  const key = routeKey(route);
  const routeStats: RouteStats = {
    requests: 0,
    statuses: new Map(),
    batches: 0,
    cleanBatches: 0,
    fourxxInCleanBatches: 0,
  };
  stats.set(key, routeStats);
  const violations: string[] = [];
  const token = fc.integer({ min: 0, max: 4 }).map((n) => n === 0 && route.auth === 'jwt');
  const batch = fc.oneof(
    ...families.map((family) => ({
      weight: family.weight,
      arbitrary: fc.array(
        fc
          .tuple(family.arbitrary, token)
          .map(([c, tenant]): FuzzCase => ({ ...c, family: family.name, tenant, method: route.method })),
        { minLength: BATCH, maxLength: BATCH },
      ),
    })),
  );
  await fc.assert(
    fc.asyncProperty(batch, async (cases) => {
      routeStats.batches++;
      let onlyClientErrors = true;
      let backgroundWork = false;
      for (const fuzzCase of cases) {
        const request: RawRequest = {
          method: fuzzCase.method,
          path: fuzzCase.path,
          headers: {
            ...fuzzCase.headers,
            ...(route.auth === 'none'
              ? {}
              : { authorization: `Bearer ${fuzzCase.tenant ? tenantToken : operatorToken}` }),
          },
          body: fuzzCase.body,
        };
        // What an earlier 2xx set off in the background (a budget projection) lands first, so the
        // writes recorded below are this request's alone.
        if (backgroundWork) await service.settled();
        backgroundWork = false;
        const mark = recorder.calls.length;
        const response = await sendRaw(service.url, request);
        routeStats.requests++;
        routeStats.statuses.set(response.status, (routeStats.statuses.get(response.status) ?? 0) + 1);
        const problems = responseProblems(fuzzCase, response, CONTRACTS[route.handler]!);
        if (response.status >= 400 && response.status < 500) {
          const writes = recorder.writesSince(mark, service.tables.billing);
          if (writes.length > 0) {
            problems.push(`a ${response.status} that wrote: ${writes.map((w) => w.operation).join(', ')}`);
          }
        } else {
          onlyClientErrors = false;
          backgroundWork = true;
        }
        for (const problem of problems) violations.push(`${problem}\n    ${describeCase(fuzzCase)}`);
      }
      // What the batch led to in the background (budget projections) lands before the snapshot, so
      // it is this batch's, and the next batch starts from a table nothing earlier still changes.
      await service.settled();
      const after = await snapshotTable(scanner, service.tables.billing);
      if (onlyClientErrors) {
        routeStats.cleanBatches++;
        routeStats.fourxxInCleanBatches += cases.length;
        const diff = snapshotDiff(baseline, after);
        if (diff.length > 0) {
          violations.push(
            `a batch that answered only 4xx changed the table: ${diff.slice(0, 5).join('; ')}\n    ${cases.map(describeCase).join('\n    ')}`,
          );
        }
      }
      baseline = after;
    }),
    { seed: SEED, numRuns: runs, endOnFailure: true },
  );
  violations.push(...pollutionProblems());
  return violations;
}

function printSummary(): void {
  if (stats.size === 0) return;
  const rows = [...stats].map(([key, s]) => {
    const byStatus = [...s.statuses]
      .sort(([a], [b]) => a - b)
      .map(([status, n]) => `${status}×${n}`)
      .join(' ');
    return `${key.padEnd(48)} ${String(s.requests).padStart(5)}  4xx-only batches ${s.cleanBatches}/${s.batches}  ${byStatus}`;
  });
  const total = [...stats.values()].reduce((sum, s) => sum + s.requests, 0);
  const clean = [...stats.values()].reduce((sum, s) => sum + s.fourxxInCleanBatches, 0);
  console.log(
    `\nHostile-input fuzz (seed ${SEED}): ${stats.size} routes, ${total} requests, ` +
      `${clean} of them in 4xx-only batches compared by table snapshot\n${rows.join('\n')}\n`,
  );
}

describe('hostile input over every JSON route', () => {
  it('has a fuzz generator for every route that takes a body, a query or path parameters', () => {
    expect(FUZZED_ROUTES.flatMap(specGaps)).toEqual([]);
    const stale = Object.keys(SPECS).filter((key) => !FUZZED_ROUTES.some((route) => routeKey(route) === key));
    expect(stale, 'specs for routes that no longer exist').toEqual([]);
  });

  for (const route of FUZZED_ROUTES) {
    it(`${routeKey(route)}: never a 5xx, a 4xx is a problem and writes nothing`, async () => {
      expect(specGaps(route)).toEqual([]);
      const spec = SPECS[routeKey(route)]!;
      const contract = CONTRACTS[route.handler]!;
      const families = spec.signedWebhook ? webhookFamilies() : familiesFor(route, spec, contract);
      const runs = spec.bodies || spec.signedWebhook ? RUNS_WITH_BODY : RUNS_WITHOUT_BODY;
      const violations = await fuzzRoute(route, families, runs);
      const report = violations.slice(0, 10).join('\n');
      expect(violations.length === 0 ? '' : `${violations.length} violations, the first:\n${report}`).toBe(
        '',
      );
    }, 120_000);
  }

  it('left Object.prototype of the process alone', () => {
    expect(pollutionProblems()).toEqual([]);
    expect(({} as Record<string, unknown>).fuzzPolluted).toBeUndefined();
  });
});
