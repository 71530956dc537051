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
    const principal = principalFromEvent(
      eventWith({ jwt: { claims: { sub: 'u1', scp: '[a b]', tenant_id: 't1' } } }),
    );
    expect([...principal.scopes]).toEqual(['a', 'b']);
  });

  // Found from outside: a list-shaped `scope` claim arrived as "[a b]" and was split into "[a" and "b]".
  it('reads a list-shaped scope claim, flattened or not, and scope and scp together', () => {
    const read = (claims: Record<string, unknown>) => [
      ...principalFromEvent(eventWith({ jwt: { claims: { sub: 'u1', tenant_id: 't1', ...claims } } })).scopes,
    ];
    expect(read({ scope: '[billing:a billing:b]' })).toEqual(['billing:a', 'billing:b']);
    expect(read({ scope: ['billing:a', 'billing:b'] })).toEqual(['billing:a', 'billing:b']);
    expect(read({ scope: 'billing:a', scp: '[billing:b]' })).toEqual(['billing:a', 'billing:b']);
  });

  describe('tenancy is decided positively', () => {
    const principal = (claims: Record<string, unknown>) =>
      principalFromEvent(eventWith({ jwt: { claims: { sub: 'u1', scope: 'x', ...claims } } }));

    // Found from outside: `"tenant_id": ""` was treated as absent, so the token acted as an operator.
    it.each([
      ['empty', ''],
      ['blank', '   '],
      ['padded', ' cus_1 '],
      ['with a newline', 'cus_1\ncus_2'],
      ['a flattened list', '[cus_1 cus_2]'],
      ['a flattened object', '{"id":"cus_1"}'],
      ['a number', 42],
      ['a boolean', true],
      ['too long', 'c'.repeat(256)],
    ])('refuses a tenant_id claim that is %s with 401, even with the operator scope', (_shape, value) => {
      expect(() => principal({ tenant_id: value, scope: 'x billing:operator' })).toThrowError(
        expect.objectContaining({
          kind: 'unauthenticated',
          message: expect.stringMatching(/tenant_id claim/),
        }),
      );
    });

    it('a token with neither the tenant claim nor the operator scope is refused with 403 naming both', () => {
      expect(() => principal({})).toThrowError(
        expect.objectContaining({
          kind: 'forbidden',
          message: expect.stringMatching(/tenant_id claim.*billing:operator scope/),
        }),
      );
    });

    it('the operator scope makes an operator; the tenant claim confines even when both are present', () => {
      expect(principal({ scope: 'x billing:operator' }).tenantId).toBeUndefined();
      expect(principal({ scope: 'x billing:operator', tenant_id: 'cus_1' }).tenantId).toBe('cus_1');
    });

    it('reads the tenant from the claim the stage names (Cognito: custom:tenant_id)', () => {
      const tenancy = { tenantClaim: 'custom:tenant_id', operatorScope: 'ops:all' };
      const of = (claims: Record<string, unknown>) =>
        principalFromEvent(eventWith({ jwt: { claims: { sub: 'u1', scope: 'x', ...claims } } }), tenancy);
      expect(of({ 'custom:tenant_id': 'cus_7' }).tenantId).toBe('cus_7');
      // The default claim name means nothing to this stage: without its own claim or scope, refused.
      expect(() => of({ tenant_id: 'cus_7' })).toThrowError(/custom:tenant_id claim.*ops:all scope/);
      expect(() => of({ scope: 'billing:operator' })).toThrowError(/ops:all/);
      expect(of({ scope: 'ops:all' }).tenantId).toBeUndefined();
    });
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
      eventWith({ jwt: { claims: { sub: 'u1', scope: 'billing:customers:read', tenant_id: 't1' } } }),
    );
    expect(() => requireScope(principal, ['billing:customers:create'])).toThrowError(
      /billing:customers:create/,
    );
    expect(() => requireScope(principal, ['billing:customers:read'])).not.toThrow();
  });
});
