import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { DomainError, validationError } from '../domain/errors.ts';
import type { Principal } from '../domain/principal.ts';
import { requireScope } from '../domain/principal.ts';
import { logger } from '../logger.ts';
import { principalFromEvent } from './auth.ts';
import { problemFromError, problemResponse } from './problem.ts';
import { illFormedStringIn } from './validation.ts';

/** The API Gateway v2 event as the middlewares leave it for the handler. */
export type ApiEvent = APIGatewayProxyEventV2 & {
  /** Parsed JSON body (undefined when the request had none). */
  jsonBody?: unknown;
  /** The body exactly as received, decoded from base64 if API Gateway encoded it. */
  rawBody?: string;
  principal?: Principal;
};

type ApiMiddleware = MiddlewareObj<ApiEvent, APIGatewayProxyStructuredResultV2>;

/** Maps every thrown error to application/problem+json; unexpected ones are logged, never echoed. */
export const problemErrors = (): ApiMiddleware => ({
  name: 'problemErrors',
  onError: (request) => {
    const requestId = request.event.requestContext?.requestId;
    const problem = problemFromError(request.error, requestId);
    if (problem.status >= 500) logger.error('request failed', { requestId, error: request.error as Error });
    request.response = problemResponse(problem);
  },
});

/**
 * Decodes the body once and refuses it with 413 when it is larger than the route allows. A base64
 * body must be UTF-8: bytes that are not are refused (400), never replaced by U+FFFD.
 */
export const bodyLimit = (maxBytes: number): ApiMiddleware => ({
  name: 'bodyLimit',
  before: (request) => {
    const { body, isBase64Encoded } = request.event;
    if (body === undefined || body === null) return;
    const bytes = isBase64Encoded ? Buffer.from(body, 'base64') : undefined;
    const size = bytes ? bytes.length : Buffer.byteLength(body, 'utf8');
    if (size > maxBytes) {
      throw new DomainError(
        'payload-too-large',
        `The body is ${size} bytes; this route accepts at most ${maxBytes}`,
      );
    }
    request.event.rawBody = bytes ? utf8Text(bytes) : body;
  },
});

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function utf8Text(bytes: Buffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new DomainError('malformed-json', 'The body is not valid UTF-8 (JSON text must be UTF-8)');
  }
}

/** Requires a JSON content type for any body and parses it; a broken document is a 400, not a 500. */
export const jsonBody = (): ApiMiddleware => ({
  name: 'jsonBody',
  before: (request) => {
    const raw = request.event.rawBody;
    if (raw === undefined || raw === '') return;
    const contentType = request.event.headers?.['content-type'] ?? '';
    if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType)) {
      throw new DomainError(
        'unsupported-media-type',
        `Content-Type must be application/json, got "${contentType || '(none)'}"`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      throw new DomainError('malformed-json', `The body is not valid JSON: ${(error as Error).message}`);
    }
    // "\ud800" is valid JSON text but no character; such strings break what reads them later (Stripe's client).
    const illFormed = illFormedStringIn(parsed);
    if (illFormed !== undefined) {
      throw validationError([
        { field: illFormed, message: 'is not well-formed Unicode (it holds a lone surrogate)' },
      ]);
    }
    request.event.jsonBody = parsed;
  },
});

/** Identifies the caller and checks the route's scopes again (defence in depth behind API Gateway). */
export const authorize = (scopes: readonly string[]): ApiMiddleware => ({
  name: 'authorize',
  before: (request) => {
    const principal = principalFromEvent(request.event);
    requireScope(principal, scopes);
    request.event.principal = principal;
  },
});
