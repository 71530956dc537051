import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { requireScope } from '../../../shared/domain/principal.ts';
import { principalFromEvent } from '../../../shared/http/auth.ts';

const eventWith = (authorizer: unknown) =>
  ({
    requestContext: { authorizer, requestId: 'r', http: { method: 'GET' } },
  }) as unknown as APIGatewayProxyEventV2;

describe('caller identity from the API Gateway authorizer context', () => {
  it('reads scopes and tenant from JWT claims', () => {
    const principal = principalFromEvent(
      eventWith({
        jwt: {
          claims: { sub: 'u1', scope: 'billing:customers:read billing:customers:create', tenant_id: 't9' },
        },
      }),
    );
    expect(principal).toMatchObject({ kind: 'user', subject: 'u1', tenantId: 't9' });
    expect([...principal.scopes]).toEqual(['billing:customers:read', 'billing:customers:create']);
  });

  it('reads a flattened scp list claim as API Gateway passes it', () => {
    const principal = principalFromEvent(eventWith({ jwt: { claims: { sub: 'u1', scp: '[a b]' } } }));
    expect([...principal.scopes]).toEqual(['a', 'b']);
    expect(principal.tenantId).toBeUndefined();
  });

  it('treats an IAM caller as a service', () => {
    const principal = principalFromEvent(eventWith({ iam: { userArn: 'arn:aws:iam::1:role/gw' } }));
    expect(principal).toMatchObject({
      kind: 'service',
      subject: 'arn:aws:iam::1:role/gw',
      tenantId: undefined,
    });
    expect(() => requireScope(principal, ['billing:usage:create'])).not.toThrow();
  });

  it('refuses a request with no authorizer context as unauthenticated', () => {
    expect(() => principalFromEvent(eventWith(undefined))).toThrowError(/bearer token/);
  });

  it('a user without any of the route scopes is forbidden, naming the scope', () => {
    const principal = principalFromEvent(
      eventWith({ jwt: { claims: { sub: 'u1', scope: 'billing:customers:read' } } }),
    );
    expect(() => requireScope(principal, ['billing:customers:create'])).toThrowError(
      /billing:customers:create/,
    );
    expect(() => requireScope(principal, ['billing:customers:read'])).not.toThrow();
  });
});
