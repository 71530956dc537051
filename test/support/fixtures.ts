import type { Principal } from '../../shared/domain/principal.ts';
import { SCOPES } from '../../shared/http/routes.ts';

export const operator = (overrides: Partial<Principal> = {}): Principal => ({
  kind: 'user',
  subject: 'operator-1',
  scopes: new Set(Object.values(SCOPES)),
  tenantId: undefined,
  ...overrides,
});

export const tenantUser = (tenantId: string, overrides: Partial<Principal> = {}): Principal =>
  operator({ subject: `tenant-user-${tenantId}`, tenantId, ...overrides });

let sequence = 0;

export const customerInput = (
  overrides: Partial<{ name: string; email: string; metadata: Record<string, string> }> = {},
) => {
  sequence++;
  return { name: `Customer ${sequence}`, email: `billing${sequence}@example.com`, ...overrides };
};
