import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type FakeCard,
  type FakePaymentMethod,
  fakePaymentMethods,
  TEST_CARDS,
} from './fake-stripe-payment-methods.ts';

export { type FakeCard, type FakePaymentMethod, TEST_CARDS };

/**
 * A local stand-in for the Stripe endpoints the gateway calls (customers, payment intents, payment
 * methods), speaking Stripe's wire format
 * (form-encoded bodies in, JSON and a Request-Id header out) so the real `stripe` client can be
 * pointed at it with STRIPE_API_BASE. It keeps Stripe's idempotency rules:
 * - same key + same method, path and parameters → the saved status and body again (Idempotent-Replayed);
 * - same key + anything different → 400 idempotency_error;
 * - same key while the first request still runs → 409 idempotency_error (the client retries 409s);
 * - GET ignores keys, as Stripe does.
 * Declines (402) are saved like successes. A `server_error` outcome stands for a failure before the
 * endpoint ran, so it is not saved and the client's retry with the same key gets the next outcome.
 */

export type PaymentOutcome =
  | 'succeeded'
  | 'card_declined'
  | 'server_error'
  /** A bank debit: the PaymentIntent answers `processing`; its outcome would come later by webhook. */
  | 'processing'
  /** Answers after `delayMs` (holding the idempotency key meanwhile) with `then` (default succeeded). */
  | { slow: number; then?: 'succeeded' | 'card_declined' | 'server_error' };

export type FormParams = { [key: string]: string | FormParams | FormParams[] | string[] };

export type RecordedRequest = {
  method: string;
  path: string;
  params: FormParams;
  idempotencyKey: string | undefined;
  /** Filled in when the answer is sent. */
  status?: number;
  replayed?: boolean;
};

export type FakeCustomer = {
  id: string;
  object: 'customer';
  created: number;
  livemode: false;
  name: string | null;
  email: string | null;
  metadata: Record<string, string>;
  invoice_settings: {
    default_payment_method: string | null;
    custom_fields: null;
    footer: null;
    rendering_options: null;
  };
};

export type FakePaymentIntent = {
  id: string;
  object: 'payment_intent';
  created: number;
  livemode: false;
  amount: number;
  currency: string;
  customer: string;
  payment_method: string | null;
  status: 'succeeded' | 'requires_payment_method' | 'processing';
  confirmation_method: 'automatic';
  metadata: Record<string, string>;
  last_payment_error: null | { type: 'card_error'; code: string; decline_code: string; message: string };
};

export type FakeRefund = {
  id: string;
  object: 'refund';
  created: number;
  amount: number;
  currency: string;
  payment_intent: string;
  status: 'pending' | 'succeeded' | 'failed';
  failure_reason: string | null;
  metadata: Record<string, string>;
};

/** What a new refund answers: `server_error` is a failure before the endpoint ran (not saved). */
export type RefundOutcome = 'succeeded' | 'pending' | 'server_error';

export type FakeStripe = {
  /** e.g. http://127.0.0.1:43121 — what STRIPE_API_BASE should be. */
  url: string;
  port: number;
  requests: RecordedRequest[];
  customers: Map<string, FakeCustomer>;
  paymentIntents: Map<string, FakePaymentIntent>;
  paymentMethods: Map<string, FakePaymentMethod>;
  /** A new unattached card PaymentMethod, as Stripe.js would create in the browser; returns its id. */
  createPaymentMethod(card?: Partial<FakeCard>): string;
  /** Attaches `pm` to the Stripe customer and makes it the invoice default; null removes it. */
  setPaymentMethod(customerId: string, pm: string | null): void;
  /** Replaces the customer's queue; each new (not replayed) payment intent takes one; empty = succeeded. */
  nextPaymentOutcomes(customerId: string, outcomes: PaymentOutcome[]): void;
  refunds: Map<string, FakeRefund>;
  /** Each new (not replayed) refund takes one; empty = succeeded. */
  nextRefundOutcomes(outcomes: RefundOutcome[]): void;
  /** Delays every answer by `ms` (0 = none), e.g. to make even a GET exceed the client's timeout. */
  setLatency(ms: number): void;
  stop(): Promise<void>;
};

type Answer = { status: number; body: unknown };
type SavedKey = { fingerprint: string; answer: Answer | undefined };

export async function startFakeStripe(): Promise<FakeStripe> {
  const requests: RecordedRequest[] = [];
  const customers = new Map<string, FakeCustomer>();
  const paymentIntents = new Map<string, FakePaymentIntent>();
  const refunds = new Map<string, FakeRefund>();
  const refundOutcomes: RefundOutcome[] = [];
  const outcomes = new Map<string, PaymentOutcome[]>();
  const attached = new Map<string, Set<string>>();
  const idempotency = new Map<string, SavedKey>();
  const timers = new Set<NodeJS.Timeout>();
  let latencyMs = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  function createCustomer(params: FormParams): Answer {
    const customer: FakeCustomer = {
      id: newId('cus'),
      object: 'customer',
      created: now(),
      livemode: false,
      name: text(params.name) ?? null,
      email: text(params.email) ?? null,
      metadata: strings(params.metadata),
      invoice_settings: {
        default_payment_method: null,
        custom_fields: null,
        footer: null,
        rendering_options: null,
      },
    };
    customers.set(customer.id, customer);
    return { status: 200, body: customer };
  }

  /** Refunds of a succeeded PaymentIntent, never more in all than it collected (as Stripe refuses). */
  function createRefund(params: FormParams): Answer {
    const intent = paymentIntents.get(text(params.payment_intent) ?? '');
    if (!intent) return missing('payment_intent', text(params.payment_intent) ?? '', 'payment_intent');
    const amount = Number(text(params.amount) ?? intent.amount);
    if (!Number.isInteger(amount) || amount <= 0) return invalid('Invalid positive integer', 'amount');
    const refunded = [...refunds.values()]
      .filter((r) => r.payment_intent === intent.id && r.status !== 'failed')
      .reduce((sum, r) => sum + r.amount, 0);
    if (intent.status !== 'succeeded' || refunded + amount > intent.amount)
      return invalid(`Refund amount (${amount}) is greater than unrefunded amount on charge`, 'amount');
    const outcome = refundOutcomes.shift() ?? 'succeeded';
    if (outcome === 'server_error')
      return { status: 500, body: { error: { type: 'api_error', message: 'An unknown error occurred' } } };
    const refund: FakeRefund = {
      id: newId('re'),
      object: 'refund',
      created: now(),
      amount,
      currency: intent.currency,
      payment_intent: intent.id,
      status: outcome,
      failure_reason: null,
      metadata: strings(params.metadata),
    };
    refunds.set(refund.id, refund);
    return { status: 200, body: refund };
  }

  function retrieveCustomer(id: string): Answer {
    const customer = customers.get(id);
    return customer ? { status: 200, body: customer } : missing('customer', id, 'id');
  }

  async function createPaymentIntent(params: FormParams): Promise<Answer> {
    const amount = Number(text(params.amount));
    const currency = text(params.currency);
    if (!Number.isInteger(amount) || amount <= 0) return invalid('Invalid positive integer', 'amount');
    if (!currency || currency !== currency.toLowerCase()) return invalid('Invalid currency', 'currency');
    const customerId = text(params.customer);
    if (!customerId || !customers.has(customerId)) return missing('customer', customerId ?? '', 'customer');
    const paymentMethod = text(params.payment_method) ?? null;
    if (paymentMethod && !attached.get(customerId)?.has(paymentMethod)) {
      return missing('payment_method', paymentMethod, 'payment_method');
    }
    if (text(params.confirm) === 'true' && !paymentMethod) {
      return invalid('You must provide a payment_method to confirm this PaymentIntent', 'payment_method');
    }

    let outcome = outcomes.get(customerId)?.shift() ?? 'succeeded';
    if (typeof outcome === 'object') {
      await sleep(outcome.slow);
      outcome = outcome.then ?? 'succeeded';
    }
    if (outcome === 'server_error') {
      return { status: 500, body: { error: { type: 'api_error', message: 'An unknown error occurred' } } };
    }
    const intent: FakePaymentIntent = {
      id: newId('pi'),
      object: 'payment_intent',
      created: now(),
      livemode: false,
      amount,
      currency,
      customer: customerId,
      payment_method: paymentMethod,
      status:
        outcome === 'succeeded'
          ? 'succeeded'
          : outcome === 'processing'
            ? 'processing'
            : 'requires_payment_method',
      confirmation_method: 'automatic',
      metadata: strings(params.metadata),
      last_payment_error: null,
    };
    if (outcome === 'succeeded' || outcome === 'processing') {
      paymentIntents.set(intent.id, intent);
      return { status: 200, body: intent };
    }
    const decline = {
      type: 'card_error' as const,
      code: 'card_declined',
      decline_code: 'generic_decline',
      message: 'Your card was declined.',
    };
    intent.last_payment_error = decline;
    paymentIntents.set(intent.id, intent);
    return { status: 402, body: { error: { ...decline, payment_intent: intent } } };
  }

  const methods = fakePaymentMethods(customers, attached, { newId, now, text, invalid, missing });
  const { paymentMethods } = methods;

  async function route(method: string, path: string, params: FormParams): Promise<Answer> {
    if (method === 'POST' && path === '/v1/customers') return createCustomer(params);
    if (method === 'POST' && path === '/v1/payment_intents') return createPaymentIntent(params);
    if (method === 'POST' && path === '/v1/refunds') return createRefund(params);
    const customer = /^\/v1\/customers\/([^/]+)$/.exec(path);
    if (method === 'GET' && customer?.[1]) return retrieveCustomer(decodeURIComponent(customer[1]));
    if (method === 'POST' && customer?.[1])
      return methods.updateCustomer(decodeURIComponent(customer[1]), params);
    const pmAction = /^\/v1\/payment_methods\/([^/]+)\/(attach|detach)$/.exec(path);
    if (method === 'POST' && pmAction?.[1]) {
      const id = decodeURIComponent(pmAction[1]);
      return pmAction[2] === 'attach' ? methods.attach(id, params) : methods.detach(id);
    }
    const pm = /^\/v1\/payment_methods\/([^/]+)$/.exec(path);
    if (method === 'GET' && pm?.[1]) {
      return methods.retrieve(decodeURIComponent(pm[1]));
    }
    return {
      status: 404,
      body: {
        error: { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path})` },
      },
    };
  }

  /** Stripe's idempotency layer in front of the endpoints (POST only). */
  async function idempotent(record: RecordedRequest): Promise<Answer & { replayed?: boolean }> {
    const { method, path, params, idempotencyKey: key } = record;
    if (method !== 'POST' || !key) return route(method, path, params);
    const fingerprint = JSON.stringify([method, path, sorted(params)]);
    const saved = idempotency.get(key);
    if (saved && saved.fingerprint !== fingerprint) {
      return idempotencyError(
        400,
        `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
      );
    }
    if (saved && !saved.answer) {
      return idempotencyError(
        409,
        'There is currently another in-progress request using this Stripe API key (and/or Stripe Account) and idempotency key (if applicable). Please try again later.',
      );
    }
    if (saved?.answer) return { ...saved.answer, replayed: true };
    const entry: SavedKey = { fingerprint, answer: undefined };
    idempotency.set(key, entry);
    let answer: Answer | undefined;
    try {
      answer = await route(method, path, params);
      return answer;
    } finally {
      if (answer && answer.status < 500) entry.answer = answer;
      else idempotency.delete(key);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-stripe');
    const body = await readBody(req);
    const params = decodeForm(new URLSearchParams(body.length > 0 ? body : url.search));
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      params,
      idempotencyKey: header(req, 'idempotency-key'),
    };
    requests.push(record);
    if (latencyMs > 0) await sleep(latencyMs);
    const answer = authorized(req)
      ? await idempotent(record)
      : {
          status: 401,
          body: { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } },
        };
    record.status = answer.status;
    if ('replayed' in answer && answer.replayed) record.replayed = true;
    // The client may have given up (timeout) while a slow answer was being prepared.
    if (res.destroyed || req.socket.destroyed) return;
    res.writeHead(answer.status, {
      'content-type': 'application/json',
      'request-id': newId('req'),
      ...(record.idempotencyKey && req.method === 'POST' ? { 'idempotency-key': record.idempotencyKey } : {}),
      ...(record.replayed ? { 'idempotent-replayed': 'true' } : {}),
    });
    res.end(JSON.stringify(answer.body));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.destroyed || res.headersSent) return;
      res.writeHead(500, { 'content-type': 'application/json', 'request-id': newId('req') });
      res.end(JSON.stringify({ error: { type: 'api_error', message: String(error) } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    customers,
    paymentIntents,
    paymentMethods,
    refunds,
    nextRefundOutcomes(next) {
      refundOutcomes.splice(0, refundOutcomes.length, ...next);
    },
    createPaymentMethod(card = {}) {
      return methods.create({ ...TEST_CARDS.pm_card_visa!, ...card }).id;
    },
    setPaymentMethod(customerId, pm) {
      const customer = customers.get(customerId);
      if (!customer) throw new Error(`fake Stripe has no customer ${customerId}`);
      if (pm) {
        const methods = attached.get(customerId) ?? new Set<string>();
        methods.add(pm);
        attached.set(customerId, methods);
      }
      customer.invoice_settings.default_payment_method = pm;
    },
    nextPaymentOutcomes(customerId, next) {
      outcomes.set(customerId, [...next]);
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    async stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

function authorized(req: IncomingMessage): boolean {
  return /^Bearer (sk|rk)_\S+$/.test(header(req, 'authorization') ?? '');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `metadata[a]=1&items[0][price]=p` → `{ metadata: { a: '1' }, items: [{ price: 'p' }] }`, as Stripe reads it. */
export function decodeForm(form: URLSearchParams): FormParams {
  const root: FormParams = {};
  for (const [rawKey, value] of form) {
    const [head, ...rest] = rawKey.split('[');
    const path = [head ?? '', ...rest.map((part) => part.replace(/\]$/, ''))];
    let node: Record<string, unknown> = root;
    path.forEach((segment, index) => {
      if (index === path.length - 1) {
        node[segment] = value;
        return;
      }
      const child = node[segment];
      node[segment] = typeof child === 'object' && child !== null ? child : {};
      node = node[segment] as Record<string, unknown>;
    });
  }
  return arrays(root) as FormParams;
}

/** Objects whose keys are exactly 0..n-1 were arrays on the client's side. */
function arrays(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value).map(([key, child]) => [key, arrays(child)] as const);
  const isArray = entries.length > 0 && entries.every(([key], index) => key === String(index));
  return isArray ? entries.map(([, child]) => child) : Object.fromEntries(entries);
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, child]) => [key, sorted(child)]),
  );
}

function text(value: FormParams[string] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function strings(value: FormParams[string] | undefined): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

function invalid(message: string, param: string): Answer {
  return { status: 400, body: { error: { type: 'invalid_request_error', message, param } } };
}

function missing(resource: string, id: string, param: string): Answer {
  return {
    status: 404,
    body: {
      error: {
        type: 'invalid_request_error',
        code: 'resource_missing',
        message: `No such ${resource}: '${id}'`,
        param,
      },
    },
  };
}

function idempotencyError(status: 400 | 409, message: string): Answer {
  return { status, body: { error: { type: 'idempotency_error', message } } };
}

/** Like Stripe's ids: letters and digits only after the prefix. */
function newId(prefix: string): string {
  return `${prefix}_${randomBytes(18)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 24)}`;
}

const now = (): number => Math.floor(Date.now() / 1000);
