import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DomainError } from '../domain/errors.ts';
import type { Principal } from '../domain/principal.ts';

type AuthorizerContext = {
  jwt?: { claims?: Record<string, string | number | boolean | string[]>; scopes?: string[] | null };
  iam?: { userArn?: string; callerId?: string };
};

/**
 * Reads the caller from what API Gateway's authorizer put on the event (the local server builds
 * the same shape after verifying the token). The handler still checks scopes and tenancy itself.
 */
export function principalFromEvent(event: APIGatewayProxyEventV2): Principal {
  const authorizer = (event.requestContext as { authorizer?: AuthorizerContext }).authorizer;
  if (authorizer?.iam?.userArn) {
    return { kind: 'service', subject: authorizer.iam.userArn, scopes: new Set(), tenantId: undefined };
  }
  const claims = authorizer?.jwt?.claims;
  if (!claims || typeof claims.sub !== 'string' || claims.sub === '') {
    throw new DomainError('unauthenticated', 'A valid bearer token is required');
  }
  const tenant = claims.tenant_id;
  return {
    kind: 'user',
    subject: claims.sub,
    scopes: new Set(scopesOf(claims)),
    tenantId: typeof tenant === 'string' && tenant !== '' ? tenant : undefined,
  };
}

/** OAuth2 `scope` is a space-separated string; some issuers send `scp` as a list. */
function scopesOf(claims: Record<string, unknown>): string[] {
  const { scope, scp } = claims;
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean);
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === 'string');
  // API Gateway flattens list claims into "[a b]" strings.
  if (typeof scp === 'string')
    return scp
      .replace(/^\[|\]$/g, '')
      .split(/[\s,]+/)
      .filter(Boolean);
  return [];
}
