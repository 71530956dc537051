/**
 * Typed errors thrown by domain and store code. The HTTP layer maps each `kind` to a status and a
 * problem type in one place (shared/http/problem.ts); nothing else builds an error response.
 */
export type FieldError = { field: string; message: string };

export type DomainErrorKind =
  | 'validation'
  | 'unprocessable'
  | 'malformed-json'
  | 'unsupported-media-type'
  | 'payload-too-large'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'gone'
  | 'conflict'
  | 'idempotency-key-reused'
  | 'idempotency-key-invalid'
  | 'version-conflict'
  | 'invalid-state-transition'
  | 'payment-declined'
  | 'not-implemented'
  | 'service-unavailable';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    readonly fieldErrors: readonly FieldError[] = [],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const validationError = (fieldErrors: readonly FieldError[]): DomainError =>
  new DomainError(
    'validation',
    fieldErrors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'The request is invalid',
    fieldErrors,
  );

export const notFound = (entity: string, id: string): DomainError =>
  new DomainError('not-found', `${entity} ${id} does not exist`);

export const forbidden = (message: string): DomainError => new DomainError('forbidden', message);
