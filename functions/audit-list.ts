import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { auditContracts } from '../shared/schemas/audit.ts';
import { listAuditTrail } from '../shared/use-cases/audit.ts';

export const handler = apiHandler(
  { name: 'audit-list', contract: auditContracts['audit-list'], scopes: [SCOPES.auditRead] },
  ({ params, query, principal }) =>
    listAuditTrail(config().tableName, { type: params.entity_type, id: params.entity_id }, query, principal),
);
