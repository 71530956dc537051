import { z } from 'zod';
import { AUDITED_ENTITY_TYPES } from '../domain/audit.ts';
import { ListQuerySchema, pageOf } from './common.ts';
import { defineContract } from './contract.ts';

export const AuditPathSchema = z.strictObject({
  entity_type: z.enum(AUDITED_ENTITY_TYPES).meta({ description: 'Type of the entity whose trail to read' }),
  entity_id: z.string().min(1).max(64).meta({ description: 'Id of the entity' }),
});

export const AuditEntrySchema = z
  .object({
    audit_id: z.string(),
    entity_type: z.string().meta({
      description:
        "Type of the changed entity: the one asked for, or one kept under it (an invoice's payment, a subscription's pending item)",
      example: 'invoice',
    }),
    entity_id: z.string(),
    action: z.string().meta({ example: 'invoice.finalized' }),
    actor: z
      .object({
        kind: z.enum(['user', 'service']),
        subject: z.string().meta({ description: 'JWT subject, IAM principal, or billing-scheduler' }),
        tenant_id: z.string().nullable().meta({ description: 'Set when a tenant token made the change' }),
      })
      .meta({ description: 'Who made the change' }),
    at: z.string().meta({ format: 'date-time' }),
    request_id: z
      .string()
      .nullable()
      .meta({ description: 'API request that made the change; null for jobs' }),
    before: z.unknown().meta({ description: 'The entity before the change; null when it was created' }),
    after: z.unknown().meta({ description: 'The entity after the change' }),
  })
  .meta({ id: 'AuditEntry' });

export const auditContracts = {
  'audit-list': defineContract({
    params: AuditPathSchema,
    query: ListQuerySchema,
    success: {
      status: 200,
      description:
        "A page of the entity's audit trail, oldest first. A tenant token reads only its own customer's trail and those of its subscriptions and invoices; catalog trails are for operators.",
      schema: pageOf(AuditEntrySchema, 'AuditEntryList'),
    },
    problems: [400, 401, 403, 404],
  }),
};
