import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { DomainError, type DomainErrorKind, type FieldError } from '../domain/errors.ts';

/**
 * RFC 9457 problem details. `type` values are stable identifiers clients may switch on; they are
 * relative URIs documented in the OpenAPI description.
 */
export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: readonly FieldError[];
  request_id?: string;
};

const PROBLEM_TYPES: Record<DomainErrorKind, { status: number; title: string }> = {
  validation: { status: 400, title: 'The request is invalid' },
  unprocessable: { status: 422, title: 'The request is well-formed but cannot be applied' },
  'malformed-json': { status: 400, title: 'The request body is not valid JSON' },
  'unsupported-media-type': { status: 415, title: 'The request body must be application/json' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  unauthenticated: { status: 401, title: 'Authentication is required' },
  forbidden: { status: 403, title: 'The caller may not do this' },
  'not-found': { status: 404, title: 'The resource does not exist' },
  gone: { status: 410, title: 'The resource existed but is no longer kept' },
  conflict: { status: 409, title: 'The request conflicts with the current state' },
  'idempotency-key-reused': {
    status: 409,
    title: 'The Idempotency-Key was already used with a different request',
  },
  'idempotency-key-invalid': { status: 400, title: 'The Idempotency-Key header is invalid' },
  'version-conflict': { status: 409, title: 'The resource was changed by someone else' },
  'invalid-state-transition': { status: 409, title: 'The resource cannot make this transition' },
  'payment-declined': { status: 402, title: 'The payment was declined' },
  'not-implemented': { status: 501, title: 'This operation is not implemented yet' },
  'service-unavailable': { status: 503, title: 'A dependency is not configured or not reachable' },
};

export const problemTypeUri = (kind: DomainErrorKind | 'internal'): string => `/problems/${kind}`;

export function problemFromError(error: unknown, requestId?: string): Problem {
  if (error instanceof DomainError) {
    const { status, title } = PROBLEM_TYPES[error.kind];
    return {
      type: problemTypeUri(error.kind),
      title,
      status,
      detail: error.message,
      ...(error.fieldErrors.length > 0 ? { errors: error.fieldErrors } : {}),
      ...(requestId ? { request_id: requestId } : {}),
    };
  }
  if (isTransientAwsError(error)) {
    return {
      type: problemTypeUri('service-unavailable'),
      title: PROBLEM_TYPES['service-unavailable'].title,
      status: 503,
      detail:
        'The data store is busy or did not answer; retry shortly (with the same Idempotency-Key, a retry never applies a change twice)',
      ...(requestId ? { request_id: requestId } : {}),
    };
  }
  return {
    type: problemTypeUri('internal'),
    title: 'Internal error',
    status: 500,
    // Never echo an unexpected error's message: it may carry internals. The request id finds the log.
    detail: 'An unexpected error occurred; it has been logged with the request id',
    ...(requestId ? { request_id: requestId } : {}),
  };
}

const THROTTLING_ERRORS = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'TimeoutError',
]);

/**
 * An AWS call that failed for a reason that passes (throttling, a 5xx, a timeout) after the SDK's
 * own retries: a 503 the caller should retry, not a 500 that says we have a bug.
 */
export function isTransientAwsError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, $fault, $retryable } = error as { name?: unknown; $fault?: unknown; $retryable?: unknown };
  return (
    (typeof name === 'string' && THROTTLING_ERRORS.has(name)) ||
    $fault === 'server' ||
    $retryable !== undefined
  );
}

export function problemResponse(problem: Problem): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: problem.status,
    headers: {
      'content-type': 'application/problem+json',
      ...(problem.status === 503 ? { 'retry-after': '1' } : {}),
    },
    body: JSON.stringify(problem),
  };
}

export const ALL_PROBLEM_KINDS = Object.keys(PROBLEM_TYPES) as DomainErrorKind[];
export const problemStatus = (kind: DomainErrorKind): number => PROBLEM_TYPES[kind].status;
