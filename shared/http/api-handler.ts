import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { config } from '../config.ts';
import { DomainError } from '../domain/errors.ts';
import type { Caller, Principal } from '../domain/principal.ts';
import { observability } from '../observability.ts';
import type { HandlerContract } from '../schemas/contract.ts';
import {
  findIdempotencyRecord,
  type IdempotencyClaim,
  IdempotencyKeyTaken,
  type IdempotentWrite,
  idempotencyClaim,
} from '../store/idempotency.ts';
import { parseIdempotencyKey, requestHash } from './idempotency.ts';
import { type ApiEvent, authorize, bodyLimit, jsonBody, problemErrors } from './middlewares.ts';
import { parseWith } from './validation.ts';

type Output<S> = S extends z.ZodType ? z.output<S> : undefined;

export type ApiRequest<C extends HandlerContract> = {
  body: Output<C['body']>;
  query: Output<C['query']>;
  params: Output<C['params']>;
  principal: Principal;
  requestId: string;
  now: Date;
  /** principal, request id and time together: what every use case takes. */
  caller: Caller;
  /** The version named by If-Match (routes whose contract has `ifMatch`), if the caller sent one. */
  ifMatchVersion: number | undefined;
  /** The raw body, for handlers that verify a signature over it. */
  rawBody: string | undefined;
  headers: Record<string, string | undefined>;
  /** Where the caller reached the API (`https://<domain>`), for links the answer hands out. */
  origin: string;
  /**
   * Present when the caller sent an Idempotency-Key on an idempotent route: pass the result of
   * `idempotency.record(body)` into the store transaction that makes the change.
   */
  idempotency: { record: (body: unknown) => IdempotentWrite } | undefined;
};

export type ApiHandlerOptions<C extends HandlerContract> = {
  /** Route identity for idempotency keys: keys are scoped per caller and per route. */
  name: string;
  contract: C;
  scopes: readonly string[];
  /** Defaults to the configured MAX_BODY_BYTES. */
  maxBodyBytes?: number;
};

/**
 * Builds an API Gateway v2 handler: observability (logs, metrics, traces) → problem errors → authorize →
 * body limit → JSON → validation → idempotent replay → the use case → a JSON response with the
 * contract's success status.
 */
export function apiHandler<C extends HandlerContract>(
  options: ApiHandlerOptions<C>,
  useCase: (request: ApiRequest<C>) => Promise<unknown>,
) {
  const { contract } = options;
  const base = async (event: ApiEvent, _context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    // The moment API Gateway received the request: what the request is stamped with.
    const now = new Date(event.requestContext?.timeEpoch ?? Date.now());
    // No body counts as {}; a JSON `null` is a body, and not an object.
    const body = contract.body
      ? parseWith(contract.body, event.jsonBody === undefined ? {} : event.jsonBody)
      : undefined;
    if (!contract.body && !contract.rawBody && event.jsonBody !== undefined) {
      throw new DomainError('validation', 'This route takes no request body', [
        { field: '(body)', message: 'must be empty' },
      ]);
    }
    const query = contract.query ? parseWith(contract.query, event.queryStringParameters ?? {}) : undefined;
    const params = contract.params ? parseWith(contract.params, event.pathParameters ?? {}) : undefined;
    const principal = event.principal!;
    const claim = contract.idempotent
      ? await idempotencyClaimFor(options.name, event, principal, now)
      : undefined;
    if (claim && 'replay' in claim) return claim.replay;
    const idempotencyClaimed = claim?.claim;
    const request = {
      body,
      query,
      params,
      principal,
      requestId: event.requestContext.requestId,
      now,
      caller: { principal, requestId: event.requestContext.requestId, now },
      ifMatchVersion: contract.ifMatch ? parseIfMatch(event.headers?.['if-match']) : undefined,
      rawBody: event.rawBody,
      headers: event.headers ?? {},
      origin: requestOrigin(event),
      idempotency: idempotencyClaimed
        ? {
            record: (responseBody: unknown) => ({
              claim: idempotencyClaimed,
              response: { status: contract.success.status, body: responseBody },
            }),
          }
        : undefined,
    } as ApiRequest<C>;
    try {
      const result = await useCase(request);
      if (result instanceof ApiResult) return jsonResponse(result.status, result.body);
      if (result instanceof DocumentResult) return result.response(contract.success.status);
      return jsonResponse(contract.success.status, result);
    } catch (error) {
      // A concurrent request with the same key may have won (its write took the key, or made ours
      // refuse: "already paid"): then the answer is its response, replayed, not our error.
      if (idempotencyClaimed && (error instanceof IdempotencyKeyTaken || error instanceof DomainError)) {
        const winner = await idempotencyClaimFor(options.name, event, principal, now);
        if (winner && 'replay' in winner) return winner.replay;
      }
      throw error;
    }
  };

  return middy<ApiEvent, APIGatewayProxyStructuredResultV2>()
    .use(observability())
    .use(problemErrors())
    .use(authorize(options.scopes))
    .use(bodyLimit(options.maxBodyBytes ?? config().maxBodyBytes))
    .use(contract.rawBody ? {} : jsonBody())
    .handler(base);
}

/** A use case's answer when its status depends on the outcome (e.g. 201 accepted vs 200 duplicate). */
export class ApiResult {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/**
 * A use case's answer that is not JSON: a PDF or a page. Bytes go base64-encoded, as API Gateway
 * expects of a binary Lambda response (it decodes them for the caller); text goes as it is.
 */
export class DocumentResult {
  constructor(
    readonly body: Uint8Array | string,
    readonly headers: Readonly<Record<string, string>>,
    readonly status?: number,
  ) {}

  response(successStatus: number): APIGatewayProxyStructuredResultV2 {
    const binary = typeof this.body !== 'string';
    return {
      statusCode: this.status ?? successStatus,
      headers: { ...this.headers },
      body: binary ? Buffer.from(this.body).toString('base64') : (this.body as string),
      isBase64Encoded: binary,
    };
  }
}

/** Where the caller reached the API: `https://<domain>` (`http` for the local server, which says so). */
export function requestOrigin(event: Pick<ApiEvent, 'headers' | 'requestContext'>): string {
  const proto = event.headers?.['x-forwarded-proto'] === 'http' ? 'http' : 'https';
  return `${proto}://${event.requestContext.domainName}`;
}

async function idempotencyClaimFor(
  route: string,
  event: ApiEvent,
  principal: Principal,
  now: Date,
): Promise<{ claim: IdempotencyClaim } | { replay: APIGatewayProxyStructuredResultV2 } | undefined> {
  const key = parseIdempotencyKey(event.headers?.['idempotency-key']);
  if (key === undefined) return undefined;
  const hash = requestHash(event.requestContext.http.method, event.rawPath, event.jsonBody ?? null);
  const { tableName, idempotencyTtlSeconds } = config();
  // Scoped to the caller as a whole (kind, tenant, subject): a token for another tenant with the same
  // subject never replays someone else's response.
  const caller = `${principal.kind}:${principal.tenantId ?? '*'}:${principal.subject}`;
  const claim = idempotencyClaim(caller, route, key, hash, now, idempotencyTtlSeconds);
  const existing = await findIdempotencyRecord(tableName, claim);
  if (!existing) return { claim };
  if (existing.request_hash !== hash) {
    throw new DomainError(
      'idempotency-key-reused',
      'This Idempotency-Key was used with a different request body; use a new key for a new request',
    );
  }
  const replay = jsonResponse(existing.response.status, existing.response.body);
  return { replay: { ...replay, headers: { ...replay.headers, 'idempotent-replayed': 'true' } } };
}

/** JSON response; a versioned entity also gets its version as a strong ETag, for If-Match. */
export function jsonResponse(status: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  const version = (body as { version?: unknown } | null)?.version;
  return {
    statusCode: status,
    headers: {
      'content-type': 'application/json',
      ...(typeof version === 'number' ? { etag: `"${version}"` } : {}),
    },
    body: body === undefined ? '' : JSON.stringify(body),
  };
}

/** If-Match carries the ETag we issued: `"3"` (also accepted: `W/"3"`, `3`); `*` asserts nothing. */
export function parseIfMatch(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(value);
  if (!match) {
    throw new DomainError('validation', 'If-Match must be the ETag of the version you read, e.g. "3"', [
      { field: 'If-Match', message: 'must be an ETag such as "3"' },
    ]);
  }
  return Number(match[1]);
}
