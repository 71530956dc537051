import { DomainError } from './errors.ts';

/**
 * Who is calling. A token with a `tenant_id` claim acts for that one customer only; a token
 * without one is an operator's. IAM (SigV4) callers are services such as the SmartGateway.
 */
export type Principal = {
  kind: 'user' | 'service';
  /** Stable identifier of the caller: the JWT `sub`, or the IAM principal ARN. */
  subject: string;
  scopes: ReadonlySet<string>;
  /** The customer this caller is confined to; undefined for operators and services. */
  tenantId: string | undefined;
};

/** Any one of `required` suffices (route scopes are alternatives, as in API Gateway). */
export function requireScope(principal: Principal, required: readonly string[]): void {
  if (principal.kind === 'service') return; // IAM policy on the route is the authorization.
  if (required.length === 0 || required.some((scope) => principal.scopes.has(scope))) return;
  throw new DomainError('forbidden', `This operation requires the scope ${required.join(' or ')}`);
}

/** Whether the caller may see or change data that belongs to `customerId`. */
export function canAccessCustomer(principal: Principal, customerId: string): boolean {
  return principal.tenantId === undefined || principal.tenantId === customerId;
}

export function requireOperator(principal: Principal, action: string): void {
  if (principal.tenantId !== undefined) {
    throw new DomainError(
      'forbidden',
      `A token confined to tenant ${principal.tenantId} may not ${action}; use an operator token`,
    );
  }
}

export type Actor = { kind: Principal['kind']; subject: string; tenant_id: string | null };

export const actorOf = (principal: Principal): Actor => ({
  kind: principal.kind,
  subject: principal.subject,
  tenant_id: principal.tenantId ?? null,
});

/**
 * Who asks, within which request, at what moment: what every use case is given, and what every
 * audit entry it writes records (actor, request id, time). Jobs and webhooks are callers too, with a
 * service principal of their own and no request id, or the id of the delivery that woke them.
 */
export type Caller = { principal: Principal; requestId: string | null; now: Date };

/** A principal for the system's own work (the period close, the Stripe webhook): no scopes, no tenant. */
export const systemPrincipal = (subject: string): Principal => ({
  kind: 'service',
  subject,
  scopes: new Set(),
  tenantId: undefined,
});
