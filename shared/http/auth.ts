import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type TenancyConfig, tenancyConfig } from '../config.ts';
import { DomainError } from '../domain/errors.ts';
import type { Principal } from '../domain/principal.ts';

type ClaimValue = string | number | boolean | string[];
type AuthorizerContext = {
  jwt?: { claims?: Record<string, ClaimValue>; scopes?: string[] | null };
  iam?: { userArn?: string; callerId?: string };
};

/**
 * Reads the caller from what API Gateway's authorizer put on the event (the local server builds
 * the same shape after verifying the token). The handler still checks scopes and tenancy itself.
 *
 * Tenancy is decided positively (infra/README.md, "Tenancy"): a token with the tenant claim acts for
 * that tenant only; a token without it is an operator's only if it carries the operator scope; any
 * other token is refused. A tenant claim that is present but not a usable id (empty, blank, a list)
 * is refused too: it never falls back to "no tenant".
 */
export function principalFromEvent(
  event: APIGatewayProxyEventV2,
  tenancy: TenancyConfig = tenancyConfig(),
): Principal {
  const authorizer = (event.requestContext as { authorizer?: AuthorizerContext }).authorizer;
  if (authorizer?.iam?.userArn) {
    return { kind: 'service', subject: authorizer.iam.userArn, scopes: new Set(), tenantId: undefined };
  }
  const claims = authorizer?.jwt?.claims;
  if (!claims || typeof claims.sub !== 'string' || claims.sub === '') {
    throw new DomainError('unauthenticated', 'A valid bearer token is required');
  }
  const scopes = new Set(scopesOf(claims));
  const tenantId = tenantOf(claims, tenancy.tenantClaim);
  if (tenantId === undefined && !scopes.has(tenancy.operatorScope)) {
    throw new DomainError(
      'forbidden',
      `The token has neither a ${tenancy.tenantClaim} claim (a tenant's token) nor the ` +
        `${tenancy.operatorScope} scope (an operator's token); ask the identity provider for one of them`,
    );
  }
  return { kind: 'user', subject: claims.sub, scopes, tenantId };
}

/** The tenant a token names, undefined when the claim is absent; a claim that names no one is refused. */
export function tenantOf(claims: Record<string, unknown>, claimName: string): string | undefined {
  if (!Object.hasOwn(claims, claimName)) return undefined;
  const value = claims[claimName];
  const problem = tenantClaimProblem(value);
  if (problem) {
    throw new DomainError('unauthenticated', `The token's ${claimName} claim ${problem}`);
  }
  return value as string;
}

/** Why a tenant claim's value cannot name a tenant, or undefined when it can. */
function tenantClaimProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.trim() === '') return 'is empty';
  if (value !== value.trim() || /[\s\p{Cc}]/u.test(value)) return 'holds spaces or control characters';
  // API Gateway hands list and object claims over flattened: "[a b]", "{...}".
  if (/^[[{]/.test(value)) return 'is a list or an object, not one tenant id';
  if (value.length > 255) return 'is longer than 255 characters';
  return undefined;
}

/**
 * OAuth2 `scope` is a space-separated string; some issuers send `scp`, and either may be a list.
 * API Gateway flattens list claims into "[a b]" strings; both claims count, as API Gateway's
 * JWT authorizer accepts either.
 */
export function scopesOf(claims: Record<string, unknown>): string[] {
  return [...new Set([...scopeList(claims.scope), ...scopeList(claims.scp)])];
}

function scopeList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string' && s !== '');
  if (typeof value !== 'string') return [];
  const flattened = /^\[(.*)\]$/s.exec(value.trim());
  // API Gateway joins a list's items with spaces: a comma is part of an item, as the authorizer saw it.
  return (flattened ? flattened[1]! : value).split(/\s+/).filter(Boolean);
}
