import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../shared/http/routes.ts';
import { startTestService, type TestService } from '../support/local-service.ts';

let service: TestService;
let operatorToken: string;
const WEBHOOK_SECRET = 'whsec_e2e_local_secret';

beforeAll(async () => {
  process.env.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET;
  service = await startTestService();
  operatorToken = await service.token([SCOPES.customersCreate, SCOPES.customersRead]);
});
afterAll(async () => service?.close());

const newCustomer = (n = Math.random()) => ({
  name: `Acme ${n}`,
  email: `billing+${String(n).slice(2, 8)}@acme.example`,
});

describe('customers over HTTP on the local service', () => {
  it('creates, gets and lists a customer', async () => {
    const created = await service.call('POST', '/api/v1/customers', {
      token: operatorToken,
      body: newCustomer(),
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ stripe_customer_id: null, version: 1 });
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);

    const fetched = await service.call('GET', `/api/v1/customers/${created.body.id}`, {
      token: operatorToken,
    });
    expect(fetched).toMatchObject({ status: 200, body: created.body });

    const listed = await service.call('GET', '/api/v1/customers?limit=100', { token: operatorToken });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((c: { id: string }) => c.id)).toContain(created.body.id);
  });

  it('pages through the list with next_cursor', async () => {
    for (let i = 0; i < 3; i++) {
      await service.call('POST', '/api/v1/customers', { token: operatorToken, body: newCustomer() });
    }
    const first = await service.call('GET', '/api/v1/customers?limit=2', { token: operatorToken });
    expect(first.body.data).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await service.call('GET', `/api/v1/customers?limit=2&cursor=${first.body.next_cursor}`, {
      token: operatorToken,
    });
    expect(second.status).toBe(200);
    const ids = [...first.body.data, ...second.body.data].map((c: { id: string }) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('refuses a missing, malformed, expired or foreign-audience token with 401', async () => {
    const expired = await service.token([SCOPES.customersRead], { expiresInSeconds: -60 });
    const wrongAudience = await service.token([SCOPES.customersRead], { audience: 'someone-else' });
    const wrongIssuer = await service.token([SCOPES.customersRead], { issuer: 'https://evil.example' });
    const tampered = `${operatorToken.slice(0, -4)}AAAA`;
    for (const token of [undefined, 'not-a-jwt', expired, wrongAudience, wrongIssuer, tampered]) {
      const response = await service.call('GET', '/api/v1/customers', token ? { token } : {});
      expect(response.status, `token ${String(token).slice(0, 20)}`).toBe(401);
    }
  });

  it('refuses a token without the route scope with 403 and creates nothing', async () => {
    const readOnly = await service.token([SCOPES.customersRead]);
    const before = (await service.billingItems()).length;
    const response = await service.call('POST', '/api/v1/customers', {
      token: readOnly,
      body: newCustomer(),
    });
    expect(response.status).toBe(403);
    expect((await service.billingItems()).length).toBe(before);
  });

  it("hides another tenant's customer (404) and refuses tenant tokens creating customers (403)", async () => {
    const created = await service.call('POST', '/api/v1/customers', {
      token: operatorToken,
      body: newCustomer(),
    });
    const otherTenant = await service.token([SCOPES.customersRead, SCOPES.customersCreate], {
      tenantId: 'other-tenant',
    });
    expect(
      (await service.call('GET', `/api/v1/customers/${created.body.id}`, { token: otherTenant })).status,
    ).toBe(404);
    const create = await service.call('POST', '/api/v1/customers', {
      token: otherTenant,
      body: newCustomer(),
    });
    expect(create.status).toBe(403);
    expect(create.headers.get('content-type')).toBe('application/problem+json');

    const ownTenant = await service.token([SCOPES.customersRead], { tenantId: created.body.id });
    expect(
      (await service.call('GET', `/api/v1/customers/${created.body.id}`, { token: ownTenant })).status,
    ).toBe(200);
    const ownList = await service.call('GET', '/api/v1/customers', { token: ownTenant });
    expect(ownList.body).toEqual({ data: [created.body], next_cursor: null });
  });

  it('answers malformed JSON, unknown fields and oversized bodies with problems that say what to fix', async () => {
    const malformed = await service.call('POST', '/api/v1/customers', {
      token: operatorToken,
      rawBody: '{"name": "Acme",',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed).toMatchObject({ status: 400, body: { type: '/problems/malformed-json', status: 400 } });
    expect(malformed.headers.get('content-type')).toBe('application/problem+json');

    const unknown = await service.call('POST', '/api/v1/customers', {
      token: operatorToken,
      body: { ...newCustomer(), plan: 'gold' },
    });
    expect(unknown).toMatchObject({
      status: 400,
      body: { type: '/problems/validation', errors: [{ field: 'plan' }] },
    });

    const invalid = await service.call('POST', '/api/v1/customers', {
      token: operatorToken,
      body: { name: 'A' },
    });
    expect(invalid.body.errors.map((e: { field: string }) => e.field)).toEqual(['email']);

    const oversized = await service.call('POST', '/api/v1/customers', {
      token: operatorToken,
      body: { ...newCustomer(), name: 'x'.repeat(70 * 1024) },
    });
    expect(oversized).toMatchObject({ status: 413, body: { type: '/problems/payload-too-large' } });

    const wrongType = await service.call('POST', '/api/v1/customers', {
      token: operatorToken,
      rawBody: 'name=Acme',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(wrongType.status).toBe(415);
  });

  it('a retried POST with the same Idempotency-Key returns the same customer and creates one', async () => {
    const body = newCustomer();
    const headers = { 'idempotency-key': `retry-${Date.now()}` };
    const first = await service.call('POST', '/api/v1/customers', { token: operatorToken, body, headers });
    const retry = await service.call('POST', '/api/v1/customers', { token: operatorToken, body, headers });
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    const withEmail = (await service.billingItems()).filter(
      (i) => i.item_type === 'customer' && i.email === body.email,
    );
    expect(withEmail).toHaveLength(1);

    const reused = await service.call('POST', '/api/v1/customers', {
      token: operatorToken,
      body: { ...body, name: 'Changed' },
      headers,
    });
    expect(reused).toMatchObject({ status: 409, body: { type: '/problems/idempotency-key-reused' } });
  });

  it('concurrent requests with one Idempotency-Key create exactly one customer', async () => {
    const body = newCustomer();
    const headers = { 'idempotency-key': `race-${Date.now()}` };
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        service.call('POST', '/api/v1/customers', { token: operatorToken, body, headers }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    const withEmail = (await service.billingItems()).filter(
      (i) => i.item_type === 'customer' && i.email === body.email,
    );
    expect(withEmail).toHaveLength(1);
  });

  it('a created customer reaches the bus as customer.created and is delivered to the SmartGateway sync', async () => {
    const created = await service.call('POST', '/api/v1/customers', {
      token: operatorToken,
      body: newCustomer(),
    });
    await service.settled();
    const events = await service.call('GET', '/_local/events');
    const event = events.body.events.find(
      (e: { detail: { entity_id: string } }) => e.detail.entity_id === created.body.id,
    );
    expect(event).toMatchObject({
      source: 'tcp.billing',
      detail_type: 'customer.created',
      detail: {
        type: 'customer.created',
        schema_version: 1,
        entity_version: 1,
        data: { id: created.body.id },
      },
      deliveries: [{ target: 'smart-gateway-sync', status: 'delivered', attempts: 1 }],
    });
    expect(service.streamDeadLetters()).toEqual([]);
  });

  it('serves a valid OpenAPI document describing every route', async () => {
    const { validate } = await import('@readme/openapi-parser');
    const response = await service.call('GET', '/openapi.json');
    expect(response.status).toBe(200);
    const result = await validate(structuredClone(response.body));
    expect(result.valid, JSON.stringify(result)).toBe(true);
    expect(Object.keys(response.body.paths)).toContain('/api/v1/customers/{id}');
    expect(response.body.components.schemas.CreateCustomerRequest.additionalProperties).toBe(false);
  });

  it('accepts a correctly signed Stripe webhook once and refuses a bad signature with 400', async () => {
    const payload = JSON.stringify({
      id: `evt_${Date.now()}`,
      object: 'event',
      type: 'invoice.paid',
      created: 1,
      livemode: false,
      data: { object: { id: 'in_1' } },
    });
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
    const headers = { 'stripe-signature': signature, 'content-type': 'application/json' };
    const first = await service.call('POST', '/webhooks/stripe', { rawBody: payload, headers });
    expect(first).toMatchObject({ status: 200, body: { received: true, duplicate: false } });
    const replay = await service.call('POST', '/webhooks/stripe', { rawBody: payload, headers });
    expect(replay.body.duplicate).toBe(true);
    const forged = await service.call('POST', '/webhooks/stripe', {
      rawBody: payload.replace('invoice.paid', 'invoice.voided'),
      headers,
    });
    expect(forged).toMatchObject({ status: 400, body: { errors: [{ field: 'Stripe-Signature' }] } });
  });
});

describe('Stripe webhook replay protection', () => {
  it('refuses a correctly signed payload whose timestamp is older than five minutes', async () => {
    const payload = JSON.stringify({
      id: 'evt_stale',
      object: 'event',
      type: 'invoice.paid',
      created: 1,
      livemode: false,
      data: { object: { id: 'in_2' } },
    });
    const signature = Stripe.webhooks.generateTestHeaderString({
      payload,
      secret: WEBHOOK_SECRET,
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    const response = await service.call('POST', '/webhooks/stripe', {
      rawBody: payload,
      headers: { 'stripe-signature': signature, 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(response.body.detail).toMatch(/tolerance|timestamp/i);
  });
});
