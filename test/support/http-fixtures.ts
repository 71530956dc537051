import type { TestService } from './local-service.ts';

export type Subscribed = {
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on response bodies field by field
  customer: any;
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on response bodies field by field
  subscription: any;
  planId: string;
};

/**
 * Over HTTP, as a caller would: a product, a monthly USD plan ($20 flat billed in arrears unless
 * said otherwise, 0.5 cents per `calls`, budget $50), a customer and its subscription. In arrears,
 * the first close bills the period's fee and usage together on one invoice.
 */
export async function subscribeOverHttp(
  service: TestService,
  token: string,
  name = 'Loop',
  feeTiming: 'in_advance' | 'in_arrears' = 'in_arrears',
): Promise<Subscribed> {
  const post = async (path: string, body: unknown) => {
    const response = await service.call('POST', path, { token, body });
    if (response.status !== 201) {
      throw new Error(`POST ${path} answered ${response.status}: ${JSON.stringify(response.body)}`);
    }
    return response.body;
  };
  const product = await post('/api/v1/products', { name });
  const plan = await post('/api/v1/plans', {
    product_id: product.id,
    name,
    currency: 'USD',
    interval: 'month',
    fee_timing: feeTiming,
    total_budget: 5000,
  });
  await post('/api/v1/prices', { plan_id: plan.id, model: 'flat', unit_amount: 2000 });
  await post('/api/v1/prices', {
    plan_id: plan.id,
    model: 'per_unit',
    metric: 'calls',
    unit_amount_decimal: '0.5',
  });
  const customer = await post('/api/v1/customers', {
    name: `${name} Co`,
    email: `${name.toLowerCase().replace(/\W/g, '')}@example.com`,
  });
  const subscription = await post('/api/v1/subscriptions', { customer_id: customer.id, plan_id: plan.id });
  return { customer, subscription, planId: plan.id };
}

/** The local period close, at `at`, over the local-only route. */
export async function closePeriodsAt(service: TestService, at: Date) {
  const response = await service.call('POST', `/_local/close-periods?at=${at.toISOString()}`);
  if (response.status !== 200) throw new Error(`close-periods answered ${response.status}`);
  return response.body as Record<string, number>;
}

/** The SmartGateway budgets row of a subscription, once the event path has settled. */
export async function budgetRowOf(service: TestService, subscriptionId: string) {
  await service.settled();
  const { body } = await service.call('GET', '/_local/budgets');
  return (body.items as { subscription_id: string }[]).find(
    (row) => row.subscription_id === subscriptionId,
  ) as Record<string, unknown> | undefined;
}

/** POST that must create (201): its body, or an error naming the route and the answer. */
export async function createdOverHttp(
  service: TestService,
  token: string,
  path: string,
  body: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on response bodies field by field
): Promise<any> {
  const response = await service.call('POST', path, { token, body });
  if (response.status !== 201)
    throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

/**
 * A customer (with these tax rates) and a one-time USD price of `unitAmount` (on `productId`, or a
 * product of its own), over HTTP; `invoice()` makes and finalizes a one-off invoice of one unit.
 */
export async function oneOffBuyer(
  service: TestService,
  token: string,
  input: { name: string; unitAmount: number; taxRateIds?: string[]; productId?: string },
) {
  const post = (path: string, body: unknown) => createdOverHttp(service, token, path, body);
  const productId = input.productId ?? (await post('/api/v1/products', { name: input.name })).id;
  const price = await post('/api/v1/prices', {
    product_id: productId,
    model: 'one_time',
    currency: 'USD',
    unit_amount: input.unitAmount,
  });
  const customer = await post('/api/v1/customers', {
    name: input.name,
    email: `${input.name.toLowerCase().replace(/\W/g, '')}@example.com`,
    tax_rate_ids: input.taxRateIds ?? [],
  });
  const invoice = (quantity = 1) =>
    post('/api/v1/invoices', {
      customer_id: customer.id,
      currency: 'USD',
      items: [{ price_id: price.id, quantity }],
    });
  return { customer, price, invoice };
}

/**
 * `call(method, path, body?, headers?)` with one token (an operator's, mostly): the e2e tests' request
 * helper. Both are read at each call, as tests start the service (and mint the token) in beforeAll.
 */
export const callsWith =
  (service: () => TestService, token: () => string) =>
  (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    service().call(method, path, {
      token: token(),
      ...(body === undefined ? {} : { body }),
      ...(headers ? { headers } : {}),
    });
