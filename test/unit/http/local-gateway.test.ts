import type { Server } from 'node:http';
import { request } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevKeys, mintDevToken } from '../../../local/dev-auth.ts';
import { startLocalApi } from '../../../local/http-server.ts';

/**
 * The local API Gateway emulation (local/http-server.ts) in front of a handler that echoes the event
 * it was given, so what the gateway hands a Lambda can be checked byte for byte.
 */
let server: Server;
let port: number;
let token: string;

beforeAll(async () => {
  const keys = (await generateKeyPair('ES256')) as unknown as DevKeys;
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
  new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });

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
