import type { Server } from 'node:http';
import { request } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevKeys, LOCAL_AUDIENCE, LOCAL_ISSUER, mintDevToken } from '../../../local/dev-auth.ts';
import { startLocalApi } from '../../../local/http-server.ts';

/**
 * The local API Gateway emulation (local/http-server.ts) in front of a handler that echoes the event
 * it was given, so what the gateway hands a Lambda can be checked byte for byte.
 */
let server: Server;
let port: number;
let token: string;
let keys: DevKeys;

beforeAll(async () => {
  keys = (await generateKeyPair('ES256')) as unknown as DevKeys;
  const api = await startLocalApi({
    port: 0,
    keys,
    localRoutes: [],
    loadHandler: async () => async (event: APIGatewayProxyEventV2) => ({
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
    }),
  });
  server = api.server;
  port = Number(new URL(api.url).port);
  token = await mintDevToken(keys, { scopes: ['billing:customers:read'] });
});
afterAll(() => new Promise<void>((done) => server.close(() => done())));

/** Sends the path and bytes exactly as given (fetch would normalise both). */
const send = (method: string, path: string, headers: Record<string, string> = {}, body?: Buffer) =>
  new Promise<{ status: number; json: Record<string, unknown>; wwwAuthenticate: string | undefined }>(
    (resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: JSON.parse(Buffer.concat(chunks).toString('utf8')),
            wwwAuthenticate: res.headers['www-authenticate'],
          }),
        );
      });
      req.on('error', reject);
      req.end(body);
    },
  );

describe('local API Gateway emulation', () => {
  // Found by the fuzz: GET /api/v1/customers/% and /customers/%C0%AF answered 500 (URIError).
  it('refuses a path parameter whose escapes do not decode with a 400, not a 500', async () => {
    for (const id of ['%', '%zz', '%C0%AF', '%E0%A4%A', '%ED%A0%80']) {
      const response = await send('GET', `/api/v1/customers/${id}`, { authorization: `Bearer ${token}` });
      expect(response, id).toEqual({ status: 400, json: { message: 'Bad Request' } });
    }
    const decoded = await send('GET', '/api/v1/customers/a%2Fb%00', { authorization: `Bearer ${token}` });
    expect(decoded.json.pathParameters).toEqual({ id: 'a/b\u0000' });
  });

  // Found by the fuzz: {"name":"\xe2\x82Fuzz Co"} reached the handler as "\ufffdFuzz Co" and was stored.
  it('hands a JSON body that is not UTF-8 over base64-encoded, bytes intact', async () => {
    const bytes = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
    const response = await send('POST', '/webhooks/stripe', { 'content-type': 'application/json' }, bytes);
    expect(response.json.isBase64Encoded).toBe(true);
    expect(Buffer.from(response.json.body as string, 'base64')).toEqual(bytes);

    const text = Buffer.from('{"name":"Zoë"}');
    const valid = await send('POST', '/webhooks/stripe', { 'content-type': 'application/json' }, text);
    expect(valid.json).toMatchObject({ isBase64Encoded: false, body: '{"name":"Zoë"}' });
  });

  it('passes any query parameter name through as sent, inherited names included', async () => {
    const response = await send('GET', '/api/v1/customers?constructor=x&toString=y&__proto__=z&a=1&a=2', {
      authorization: `Bearer ${token}`,
    });
    expect(response.json.queryStringParameters).toEqual(
      JSON.parse('{"constructor":"x","toString":"y","__proto__":"z","a":"1,2"}'),
    );
    expect(({} as Record<string, unknown>).z).toBeUndefined();
  });
});

/** A token signed with the gateway's key, claims exactly as given (no defaults added). */
const signed = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(keys.privateKey);

const now = () => Math.floor(Date.now() / 1000);
const valid = () => ({
  iss: LOCAL_ISSUER,
  aud: LOCAL_AUDIENCE,
  sub: 'someone',
  exp: now() + 600,
  iat: now() - 5,
  scope: 'billing:customers:read',
  tenant_id: 'cus_1',
});
const read = (authorization: string) => send('GET', '/api/v1/customers', { authorization });

describe("the local authorizer applies API Gateway's JWT authorizer rules", () => {
  it('takes the token with or without the Bearer prefix', async () => {
    const jwt = await signed(valid());
    expect((await read(`Bearer ${jwt}`)).status).toBe(200);
    expect((await read(jwt)).status).toBe(200);
  });

  // Found from outside: tokens without exp, or issued in the future, were accepted.
  it.each([
    ['without exp', { exp: undefined }, 'exp'],
    ['expired', { exp: now() - 60 }, 'expired'],
    ['issued in the future', { iat: now() + 600 }, 'not valid yet'],
    ['not valid before a later time', { nbf: now() + 600 }, 'not valid yet'],
    ['from another issuer', { iss: 'https://elsewhere.example/' }, 'issuer'],
    ['for another audience', { aud: 'another-api' }, 'audience'],
    ['for another audience, whatever client_id says', { aud: 'x', client_id: LOCAL_AUDIENCE }, 'audience'],
    ['without aud or a matching client_id', { aud: undefined, client_id: 'other' }, 'audience'],
    ['with an empty tenant_id', { tenant_id: '' }, 'tenant_id claim is empty'],
    ['with a blank tenant_id', { tenant_id: '  ' }, 'tenant_id claim is empty'],
    ['with a numeric tenant_id', { tenant_id: 7 }, 'tenant_id claim must be a string'],
    ['with a list tenant_id', { tenant_id: ['cus_1'] }, 'tenant_id claim must be a string'],
  ])('refuses a token %s with 401 and says why in www-authenticate', async (_name, change, reason) => {
    const response = await read(`Bearer ${await signed({ ...valid(), ...change })}`);
    expect(response.status).toBe(401);
    expect(response.json).toEqual({ message: 'Unauthorized' });
    expect(response.wwwAuthenticate).toMatch(/^Bearer scope="" error="invalid_token" error_description="/);
    expect(response.wwwAuthenticate).toContain(reason);
  });

  it('accepts client_id as the audience when there is no aud', async () => {
    const jwt = await signed({ ...valid(), aud: undefined, client_id: LOCAL_AUDIENCE });
    expect((await read(`Bearer ${jwt}`)).status).toBe(200);
  });

  it('reads scopes from scp as well as scope, as a list or a string', async () => {
    for (const scopes of [{ scp: ['billing:customers:read'] }, { scp: 'billing:customers:read' }]) {
      const jwt = await signed({ ...valid(), scope: undefined, ...scopes });
      expect((await read(`Bearer ${jwt}`)).status, JSON.stringify(scopes)).toBe(200);
    }
    const list = await signed({ ...valid(), scope: ['billing:other', 'billing:customers:read'] });
    const response = await read(`Bearer ${list}`);
    expect(response.status).toBe(200);
    // Handed to the Lambda as API Gateway does: a list claim flattened into "[a b]".
    const claims = (
      response.json.requestContext as { authorizer: { jwt: { claims: Record<string, string> } } }
    ).authorizer.jwt.claims;
    expect(claims.scope).toBe('[billing:other billing:customers:read]');
    expect(claims.exp).toMatch(/^\d+$/);
  });

  it("refuses a token without any of the route's scopes with 403 and insufficient_scope", async () => {
    const response = await read(`Bearer ${await signed({ ...valid(), scope: 'billing:invoices:read' })}`);
    expect(response.status).toBe(403);
    expect(response.wwwAuthenticate).toMatch(/scope="billing:customers:read" error="insufficient_scope"/);
  });
});

// Found in review: locally any valid dev token, a tenant's included, stood in for SigV4 on the IAM
// routes and became a service principal that may post usage for any customer.
describe('the local stand-in for IAM routes', () => {
  it("takes an operator's token, never a tenant's", async () => {
    const post = (jwt: string) =>
      send('POST', '/internal/v1/usage-records', {
        authorization: `Bearer ${jwt}`,
        'content-type': 'application/json',
      });
    expect((await post(await signed(valid()))).status).toBe(403);
    const { tenant_id: _tenant, ...operator } = valid();
    expect((await post(await signed({ ...operator, scope: 'billing:operator' }))).status).toBe(200);
  });
});
