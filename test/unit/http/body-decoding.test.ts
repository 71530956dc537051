import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DomainError } from '../../../shared/domain/errors.ts';
import { apiHandler } from '../../../shared/http/api-handler.ts';
import { type ApiEvent, bodyLimit, jsonBody } from '../../../shared/http/middlewares.ts';
import { illFormedStringIn } from '../../../shared/http/validation.ts';
import { defineContract } from '../../../shared/schemas/contract.ts';

/** Runs one middleware's `before` on an event, as middy does. */
const runBefore = (middleware: ReturnType<typeof bodyLimit>, event: Partial<ApiEvent>) => {
  const request = {
    event: event as ApiEvent,
    context: {} as Context,
    response: undefined,
    error: undefined,
    internal: {},
  };
  middleware.before!(request as never);
  return request.event;
};

const refusal = (run: () => unknown): DomainError => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
  throw new Error('expected a refusal');
};

describe('a body that is not UTF-8 is refused, never replaced by U+FFFD', () => {
  // Found by the fuzz: {"name":"\xe2\x82Fuzz Co",...} was stored as "\ufffdFuzz Co" (201).
  const bytes = Buffer.concat([
    Buffer.from('{"name":"'),
    Buffer.from([0xe2, 0x82]),
    Buffer.from('Fuzz Co"}'),
  ]);

  it('answers 400 malformed-json for invalid bytes in a base64 body', () => {
    const error = refusal(() =>
      runBefore(bodyLimit(1024), { body: bytes.toString('base64'), isBase64Encoded: true }),
    );
    expect(error.kind).toBe('malformed-json');
    expect(error.message).toContain('UTF-8');
  });

  it.each([[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80]])(
    'refuses the sequence %j',
    (...sequence) => {
      const body = Buffer.from([0x7b, 0x22, ...sequence, 0x22, 0x3a, 0x31, 0x7d]).toString('base64');
      expect(refusal(() => runBefore(bodyLimit(1024), { body, isBase64Encoded: true })).kind).toBe(
        'malformed-json',
      );
    },
  );

  it('keeps valid UTF-8 exactly, and measures the limit on the bytes received', () => {
    const text = '{"name":"Zoë 😀"}';
    const event = runBefore(bodyLimit(1024), {
      body: Buffer.from(text).toString('base64'),
      isBase64Encoded: true,
    });
    expect(event.rawBody).toBe(text);
    const size = Buffer.byteLength(text);
    expect(refusal(() => runBefore(bodyLimit(size - 1), { body: text, isBase64Encoded: false })).kind).toBe(
      'payload-too-large',
    );
    expect(() =>
      runBefore(bodyLimit(size), { body: Buffer.from(text).toString('base64'), isBase64Encoded: true }),
    ).not.toThrow();
  });
});

describe('strings that are not well-formed Unicode are refused at the JSON boundary', () => {
  // Found by the fuzz: POST /customers {"name":"\udfff",...} answered 500 (Stripe's client threw URIError).
  const parse = (raw: string) =>
    runBefore(jsonBody(), { rawBody: raw, headers: { 'content-type': 'application/json' } }).jsonBody;

  it('answers 400 naming the field that holds a lone surrogate', () => {
    const error = refusal(() => parse('{"name":"\\udfff","email":"a@b.example"}'));
    expect(error.kind).toBe('validation');
    expect(error.fieldErrors).toEqual([
      { field: 'name', message: expect.stringContaining('lone surrogate') },
    ]);
    expect(refusal(() => parse('{"records":[{"a":1},{"metric":"x\\ud800"}]}')).fieldErrors[0]!.field).toBe(
      'records.1.metric',
    );
  });

  it('names an ill-formed key by its escape, so the problem stays well-formed', () => {
    expect(refusal(() => parse('{"metadata":{"\\ud800":"x"}}')).fieldErrors[0]!.field).toBe(
      'metadata.\\ud800',
    );
  });

  it('accepts surrogate pairs, and walks deep documents without recursion', () => {
    expect(parse('{"name":"\\ud83d\\ude00 ok"}')).toEqual({ name: '😀 ok' });
    const deep = `${'['.repeat(50_000)}"\\ud800"${']'.repeat(50_000)}`;
    expect(illFormedStringIn(JSON.parse(deep))).toBe(`${Array(50_000).fill('0').join('.')}`);
    expect(illFormedStringIn(JSON.parse(`${'['.repeat(50_000)}${']'.repeat(50_000)}`))).toBeUndefined();
  });
});

describe('a JSON null body is a body', () => {
  // Found by the fuzz: POST /invoices/{id}/pay with `null` was validated as {} and went on to charge.
  const handler = apiHandler(
    {
      name: 'test',
      contract: defineContract({
        body: z.strictObject({ paid_out_of_band: z.boolean().optional() }),
        success: { status: 200, description: 'ok' },
        problems: [400],
      }),
      scopes: [],
      maxBodyBytes: 1024,
    },
    async ({ body }) => ({ received: body }),
  );
  const call = (body: string | undefined) =>
    handler(
      {
        rawPath: '/test',
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body }),
        isBase64Encoded: false,
        requestContext: {
          requestId: 'r1',
          http: { method: 'POST' },
          authorizer: { jwt: { claims: { sub: 'u1', scope: 'billing:operator' } } },
        },
      } as unknown as ApiEvent,
      {} as Context,
    );

  it('refuses null as not an object, and still treats no body as {}', async () => {
    const refused = await call('null');
    expect(refused.statusCode).toBe(400);
    expect(JSON.parse(refused.body!)).toMatchObject({
      type: '/problems/validation',
      errors: [{ field: '(body)' }],
    });
    const empty = await call(undefined);
    expect(empty.statusCode).toBe(200);
    expect(JSON.parse(empty.body!)).toEqual({ received: {} });
  });
});
