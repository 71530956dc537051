/**
 * The HTTP API's route table: one entry per route, read by the CDK stack (to create routes,
 * authorizers and one Lambda per handler) and by the local server (to dispatch requests to the
 * same handler modules and enforce the same authorizer rules). Handlers re-check scopes themselves.
 */
export type RouteAuth =
  /** JWT authorizer: issuer + audience checked by API Gateway, then these scopes (any of). */
  | 'jwt'
  /** IAM (SigV4) for service callers such as the SmartGateway; JWT also accepted on a twin route locally. */
  | 'iam'
  /** No authorizer: the handler authenticates the caller itself (Stripe signature) or the route is public. */
  | 'none';

export type RouteDefinition = {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** API Gateway path syntax: `{id}` for a path parameter. */
  path: string;
  /** Name of the module in functions/ (without extension) exporting `handler`. */
  handler: string;
  auth: RouteAuth;
  /** OAuth2 scopes, any one of which authorizes the call (JWT routes). */
  scopes: readonly string[];
  summary: string;
};

export const SCOPES = {
  customersCreate: 'billing:customers:create',
  customersRead: 'billing:customers:read',
  catalogWrite: 'billing:catalog:write',
  catalogRead: 'billing:catalog:read',
  subscriptionsCreate: 'billing:subscriptions:create',
  subscriptionsRead: 'billing:subscriptions:read',
  subscriptionsUpdate: 'billing:subscriptions:update',
  usageCreate: 'billing:usage:create',
  usageRead: 'billing:usage:read',
  invoicesRead: 'billing:invoices:read',
  invoicesWrite: 'billing:invoices:write',
  auditRead: 'billing:audit:read',
  paymentMethodsWrite: 'billing:payment_methods:write',
} as const;

export const API_PREFIX = '/api/v1';

/** POST /<resource>, GET /<resource>, GET /<resource>/{id}, handled by <resource>-create|list|get. */
function crud(resource: string, noun: string, writeScope: string, readScope: string): RouteDefinition[] {
  const base = `${API_PREFIX}/${resource}`;
  return [
    {
      method: 'POST',
      path: base,
      handler: `${resource}-create`,
      auth: 'jwt',
      scopes: [writeScope],
      summary: `Create a ${noun}`,
    },
    {
      method: 'GET',
      path: base,
      handler: `${resource}-list`,
      auth: 'jwt',
      scopes: [readScope],
      summary: `List ${resource.replace('-', ' ')} (cursor pagination)`,
    },
    {
      method: 'GET',
      path: `${base}/{id}`,
      handler: `${resource}-get`,
      auth: 'jwt',
      scopes: [readScope],
      summary: `Get a ${noun}`,
    },
  ];
}

/** A customer's payment methods: tenants manage their own (reads also with billing:customers:read). */
function paymentMethodRoutes(base: string): RouteDefinition[] {
  const route = (
    method: RouteDefinition['method'],
    path: string,
    handler: string,
    write: boolean,
    summary: string,
  ): RouteDefinition => ({
    method,
    path: `${base}${path}`,
    handler: `payment-methods-${handler}`,
    auth: 'jwt',
    scopes: write ? [SCOPES.paymentMethodsWrite] : [SCOPES.customersRead],
    summary,
  });
  return [
    route(
      'POST',
      '',
      'attach',
      true,
      'Attach a payment method (Stripe pm_… id; offline: card details, never its number)',
    ),
    route('GET', '', 'list', false, "List a customer's attached payment methods (cursor pagination)"),
    route('GET', '/{pm_id}', 'get', false, 'Get a payment method (expired: whether its card has expired)'),
    route('POST', '/{pm_id}/default', 'set-default', true, "Make it the customer's default payment method"),
    route(
      'DELETE',
      '/{pm_id}',
      'detach',
      true,
      'Detach a payment method for good (the default one: no default left)',
    ),
  ];
}

export const ROUTES: readonly RouteDefinition[] = [
  {
    method: 'POST',
    path: `${API_PREFIX}/customers`,
    handler: 'customers-create',
    auth: 'jwt',
    scopes: [SCOPES.customersCreate],
    summary: 'Create a customer',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/customers`,
    handler: 'customers-list',
    auth: 'jwt',
    scopes: [SCOPES.customersRead],
    summary: 'List customers (cursor pagination)',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/customers/{id}`,
    handler: 'customers-get',
    auth: 'jwt',
    scopes: [SCOPES.customersRead],
    summary: 'Get a customer',
  },
  {
    method: 'PATCH',
    path: `${API_PREFIX}/customers/{id}`,
    handler: 'customers-update',
    auth: 'jwt',
    scopes: [SCOPES.customersCreate],
    summary: "Change a customer's tax rates (If-Match / version)",
  },
  ...paymentMethodRoutes(`${API_PREFIX}/customers/{id}/payment-methods`),
  {
    method: 'POST',
    path: `${API_PREFIX}/customers/{id}/discounts`,
    handler: 'discounts-create',
    auth: 'jwt',
    scopes: [SCOPES.customersCreate],
    summary: 'Redeem a coupon for a customer, or one of its subscriptions (operators only)',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/customers/{id}/discounts`,
    handler: 'discounts-list',
    auth: 'jwt',
    scopes: [SCOPES.customersRead],
    summary: "A customer's discounts (coupons redeemed), ended ones included",
  },
  {
    method: 'DELETE',
    path: `${API_PREFIX}/customers/{id}/discounts/{discount_id}`,
    handler: 'discounts-delete',
    auth: 'jwt',
    scopes: [SCOPES.customersCreate],
    summary: 'End a discount: invoices finalized from now do not take it (operators only)',
  },
  ...crud('products', 'product', SCOPES.catalogWrite, SCOPES.catalogRead),
  ...crud('plans', 'plan', SCOPES.catalogWrite, SCOPES.catalogRead),
  ...crud('prices', 'price', SCOPES.catalogWrite, SCOPES.catalogRead),
  {
    method: 'POST',
    path: `${API_PREFIX}/prices/{id}/archive`,
    handler: 'prices-archive',
    auth: 'jwt',
    scopes: [SCOPES.catalogWrite],
    summary: 'Archive a price (prices are never edited; archive and create a new one)',
  },
  ...crud('tax-rates', 'tax rate', SCOPES.catalogWrite, SCOPES.catalogRead),
  ...crud('coupons', 'coupon', SCOPES.catalogWrite, SCOPES.catalogRead),
  ...crud('subscriptions', 'subscription', SCOPES.subscriptionsCreate, SCOPES.subscriptionsRead),
  {
    method: 'PATCH',
    path: `${API_PREFIX}/subscriptions/{id}`,
    handler: 'subscriptions-update',
    auth: 'jwt',
    scopes: [SCOPES.subscriptionsUpdate],
    summary: 'Change plan or budget, cancel at period end, or cancel now (If-Match / version)',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/subscriptions/{id}/usage`,
    handler: 'subscriptions-usage',
    auth: 'jwt',
    scopes: [SCOPES.usageRead, SCOPES.subscriptionsRead],
    summary: "A period's exact usage per metric, rated with the plan's prices",
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/subscriptions/{id}/upcoming-invoice`,
    handler: 'subscriptions-upcoming-invoice',
    auth: 'jwt',
    // It shows invoice lines and the credit balance: what GET /invoices shows, so its scope.
    scopes: [SCOPES.invoicesRead],
    summary: 'Preview the next invoice now, or after a proposed change (plan_id or items); writes nothing',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/subscriptions/{id}/budget`,
    handler: 'subscriptions-budget',
    auth: 'jwt',
    scopes: [SCOPES.subscriptionsRead],
    summary: "The SmartGateway budgets row as billing sees it, with its sequence: a gateway's resync",
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/subscriptions/{id}/usage-records`,
    handler: 'subscriptions-usage-records',
    auth: 'jwt',
    scopes: [SCOPES.usageRead, SCOPES.subscriptionsRead],
    summary: "The records counted into a period's usage (cursor pagination; `?metric=`, `?at=`)",
  },
  {
    method: 'POST',
    path: `${API_PREFIX}/usage-records`,
    handler: 'usage-records-create',
    auth: 'jwt',
    scopes: [SCOPES.usageCreate],
    summary: 'Report metered usage (single record or batch)',
  },
  {
    method: 'POST',
    path: '/internal/v1/usage-records',
    handler: 'usage-records-create',
    auth: 'iam',
    scopes: [],
    summary: 'Report metered usage as an IAM (SigV4) service caller such as the SmartGateway',
  },
  {
    method: 'POST',
    path: `${API_PREFIX}/invoice-items`,
    handler: 'invoice-items-create',
    auth: 'jwt',
    scopes: [SCOPES.invoicesWrite],
    summary: "Add a one-time price to a subscription's next invoice",
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/invoice-items`,
    handler: 'invoice-items-list',
    auth: 'jwt',
    scopes: [SCOPES.invoicesRead],
    summary: "List a subscription's invoice items (cursor pagination)",
  },
  {
    method: 'DELETE',
    path: `${API_PREFIX}/invoice-items/{id}`,
    handler: 'invoice-items-delete',
    auth: 'jwt',
    scopes: [SCOPES.invoicesWrite],
    summary: 'Delete a one-time invoice item no invoice has taken yet',
  },
  {
    method: 'POST',
    path: `${API_PREFIX}/invoices`,
    handler: 'invoices-create',
    auth: 'jwt',
    scopes: [SCOPES.invoicesWrite],
    summary: 'Create a one-off invoice of one-time prices, finalized at once',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/invoices`,
    handler: 'invoices-list',
    auth: 'jwt',
    scopes: [SCOPES.invoicesRead],
    summary: 'List invoices (cursor pagination)',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/invoices/{id}`,
    handler: 'invoices-get',
    auth: 'jwt',
    scopes: [SCOPES.invoicesRead],
    summary: 'Get an invoice',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/invoices/{id}/lines/{line_id}/usage-records`,
    handler: 'invoices-line-usage-records',
    auth: 'jwt',
    scopes: [SCOPES.invoicesRead],
    summary: 'Exactly the usage records counted into a usage line (cursor pagination)',
  },
  ...(['finalize', 'void', 'mark-uncollectible', 'pay'] as const).map(
    (action): RouteDefinition => ({
      method: 'POST',
      path: `${API_PREFIX}/invoices/{id}/${action}`,
      handler: `invoices-${action}`,
      auth: 'jwt',
      scopes: [SCOPES.invoicesWrite],
      summary: `${action[0]!.toUpperCase()}${action.slice(1).replace('-', ' ')} an invoice`,
    }),
  ),
  {
    method: 'POST',
    path: `${API_PREFIX}/invoices/{id}/credit-notes`,
    handler: 'credit-notes-create',
    auth: 'jwt',
    scopes: [SCOPES.invoicesWrite],
    summary: 'Credit a finalized invoice, whole or line by line (operators only)',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/invoices/{id}/credit-notes`,
    handler: 'credit-notes-list',
    auth: 'jwt',
    scopes: [SCOPES.invoicesRead],
    summary: "An invoice's credit notes, oldest first",
  },
  {
    method: 'POST',
    path: `${API_PREFIX}/invoices/{id}/refunds`,
    handler: 'refunds-create',
    auth: 'jwt',
    scopes: [SCOPES.invoicesWrite],
    summary:
      'Refund a payment of an invoice, all or part, through Stripe or as made elsewhere (operators only)',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/invoices/{id}/refunds`,
    handler: 'refunds-list',
    auth: 'jwt',
    scopes: [SCOPES.invoicesRead],
    summary: "An invoice's refunds, oldest first",
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/credit-notes/{id}`,
    handler: 'credit-notes-get',
    auth: 'jwt',
    scopes: [SCOPES.invoicesRead],
    summary: 'Get a credit note',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/invoices/{id}/pdf`,
    handler: 'invoices-pdf',
    auth: 'jwt',
    scopes: [SCOPES.invoicesRead],
    summary: 'The invoice as a PDF (finalized invoices)',
  },
  {
    method: 'POST',
    path: `${API_PREFIX}/invoices/{id}/hosted-links`,
    handler: 'hosted-links-create',
    auth: 'jwt',
    scopes: [SCOPES.invoicesWrite],
    summary: 'A new expiring link to the hosted invoice page, to send to the customer',
  },
  {
    method: 'DELETE',
    path: `${API_PREFIX}/invoices/{id}/hosted-links`,
    handler: 'hosted-links-revoke',
    auth: 'jwt',
    scopes: [SCOPES.invoicesWrite],
    summary: 'Revoke every hosted link of the invoice made until now',
  },
  {
    method: 'GET',
    path: '/hosted/invoices/{token}',
    handler: 'hosted-invoice-page',
    auth: 'none',
    scopes: [],
    summary: 'The hosted invoice page (HTML; the link token is the credential)',
  },
  {
    method: 'GET',
    path: '/hosted/invoices/{token}/pdf',
    handler: 'hosted-invoice-pdf',
    auth: 'none',
    scopes: [],
    summary: 'The invoice PDF through a hosted link',
  },
  {
    method: 'GET',
    path: `${API_PREFIX}/audit/{entity_type}/{entity_id}`,
    handler: 'audit-list',
    auth: 'jwt',
    scopes: [SCOPES.auditRead],
    summary: "An entity's audit trail, oldest first (cursor pagination)",
  },
  {
    method: 'POST',
    path: '/webhooks/stripe',
    handler: 'stripe-webhook',
    auth: 'none',
    scopes: [],
    summary: 'Stripe webhook (signature verified by the handler)',
  },
  {
    method: 'GET',
    path: '/openapi.json',
    handler: 'openapi',
    auth: 'none',
    scopes: [],
    summary: 'OpenAPI 3.1 description of this API',
  },
];

/** Lambdas that are not behind an HTTP route. */
export const BACKGROUND_HANDLERS = [
  'stream-fanout',
  'budget-projector',
  'smart-gateway-sync',
  'close-periods',
  'usage-threshold-invoicer',
] as const;

/**
 * What each handler reaches beyond its own code; the CDK stack grants exactly this and no more.
 * A handler missing here fails synthesis, so a new one cannot silently get the wrong permissions.
 */
export type HandlerAccess = {
  /** Read/write on the billing table (the stream fan-out reads the stream, granted separately). */
  billingTable: 'none' | 'read' | 'read-write';
  /** Read on the Stripe secret, with its ARN in STRIPE_SECRET_ARN. */
  stripeSecret: boolean;
  /** Read and write (put, get) on the documents bucket, named in DOCUMENTS_BUCKET; none if absent. */
  documents?: 'read-write';
};

export const HANDLER_ACCESS: Readonly<Record<string, HandlerAccess>> = {
  'customers-create': { billingTable: 'read-write', stripeSecret: true }, // mirrors customers to Stripe
  'customers-get': { billingTable: 'read', stripeSecret: false },
  'customers-list': { billingTable: 'read', stripeSecret: false },
  'customers-update': { billingTable: 'read-write', stripeSecret: false },
  'payment-methods-attach': { billingTable: 'read-write', stripeSecret: true },
  'payment-methods-list': { billingTable: 'read', stripeSecret: false },
  'payment-methods-get': { billingTable: 'read', stripeSecret: false },
  'payment-methods-set-default': { billingTable: 'read-write', stripeSecret: true },
  'payment-methods-detach': { billingTable: 'read-write', stripeSecret: true },
  'products-create': { billingTable: 'read-write', stripeSecret: false },
  'products-get': { billingTable: 'read', stripeSecret: false },
  'products-list': { billingTable: 'read', stripeSecret: false },
  'plans-create': { billingTable: 'read-write', stripeSecret: false },
  'plans-get': { billingTable: 'read', stripeSecret: false },
  'plans-list': { billingTable: 'read', stripeSecret: false },
  'prices-create': { billingTable: 'read-write', stripeSecret: false },
  'prices-get': { billingTable: 'read', stripeSecret: false },
  'prices-list': { billingTable: 'read', stripeSecret: false },
  'prices-archive': { billingTable: 'read-write', stripeSecret: false },
  'coupons-create': { billingTable: 'read-write', stripeSecret: false },
  'coupons-get': { billingTable: 'read', stripeSecret: false },
  'coupons-list': { billingTable: 'read', stripeSecret: false },
  'discounts-create': { billingTable: 'read-write', stripeSecret: false },
  'discounts-list': { billingTable: 'read', stripeSecret: false },
  'discounts-delete': { billingTable: 'read-write', stripeSecret: false },
  'tax-rates-create': { billingTable: 'read-write', stripeSecret: false },
  'tax-rates-get': { billingTable: 'read', stripeSecret: false },
  'tax-rates-list': { billingTable: 'read', stripeSecret: false },
  'subscriptions-create': { billingTable: 'read-write', stripeSecret: false },
  'subscriptions-get': { billingTable: 'read', stripeSecret: false },
  'subscriptions-list': { billingTable: 'read', stripeSecret: false },
  'subscriptions-update': { billingTable: 'read-write', stripeSecret: false },
  'usage-records-create': { billingTable: 'read-write', stripeSecret: false },
  'subscriptions-usage': { billingTable: 'read', stripeSecret: false },
  'subscriptions-upcoming-invoice': { billingTable: 'read', stripeSecret: false },
  'subscriptions-usage-records': { billingTable: 'read', stripeSecret: false },
  'subscriptions-budget': { billingTable: 'read', stripeSecret: false },
  'invoices-line-usage-records': { billingTable: 'read', stripeSecret: false },
  'stripe-webhook': { billingTable: 'read-write', stripeSecret: true },
  openapi: { billingTable: 'none', stripeSecret: false },
  'invoice-items-create': { billingTable: 'read-write', stripeSecret: false },
  'invoice-items-list': { billingTable: 'read', stripeSecret: false },
  'invoice-items-delete': { billingTable: 'read-write', stripeSecret: false },
  'invoices-create': { billingTable: 'read-write', stripeSecret: false },
  'invoices-list': { billingTable: 'read', stripeSecret: false },
  'invoices-get': { billingTable: 'read', stripeSecret: false },
  'invoices-finalize': { billingTable: 'read-write', stripeSecret: false },
  'invoices-void': { billingTable: 'read-write', stripeSecret: false },
  'invoices-mark-uncollectible': { billingTable: 'read-write', stripeSecret: false },
  'invoices-pay': { billingTable: 'read-write', stripeSecret: true },
  'credit-notes-create': { billingTable: 'read-write', stripeSecret: true }, // post_payment_to refund
  'refunds-create': { billingTable: 'read-write', stripeSecret: true },
  'refunds-list': { billingTable: 'read', stripeSecret: false },
  'credit-notes-list': { billingTable: 'read', stripeSecret: false },
  'credit-notes-get': { billingTable: 'read', stripeSecret: false },
  'invoices-pdf': { billingTable: 'read', stripeSecret: false, documents: 'read-write' },
  'hosted-links-create': { billingTable: 'read-write', stripeSecret: false },
  'hosted-links-revoke': { billingTable: 'read-write', stripeSecret: false },
  'hosted-invoice-page': { billingTable: 'read', stripeSecret: false },
  'hosted-invoice-pdf': { billingTable: 'read', stripeSecret: false, documents: 'read-write' },
  'audit-list': { billingTable: 'read', stripeSecret: false },
  'close-periods': { billingTable: 'read-write', stripeSecret: true }, // sends unsent refunds again
  'usage-threshold-invoicer': { billingTable: 'read-write', stripeSecret: false },
  'stream-fanout': { billingTable: 'none', stripeSecret: false },
  'smart-gateway-sync': { billingTable: 'none', stripeSecret: false },
  'budget-projector': { billingTable: 'read-write', stripeSecret: false },
};

/** Every handler module in functions/, each bundled into its own Lambda. */
export const ALL_HANDLERS: readonly string[] = [
  ...new Set([...ROUTES.map((route) => route.handler), ...BACKGROUND_HANDLERS]),
];

export function handlerAccess(handler: string): HandlerAccess {
  const access = HANDLER_ACCESS[handler];
  if (!access) throw new Error(`Handler ${handler} has no entry in HANDLER_ACCESS (shared/http/routes.ts)`);
  return access;
}
