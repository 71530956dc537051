import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { RoutingPolicy } from '../domain/catalog.ts';
import type { BudgetRow } from '../smart-gateway/budget-row.ts';
import { dynamo } from './client.ts';

/**
 * The SmartGateway's cache tables (SPEC §6). Every write is conditional on the row being older
 * than the event (its sequence for a budgets row, its version for a routing policy), so a duplicate
 * or out-of-order event changes nothing: idempotent by construction, not by bookkeeping.
 */
export type RoutingPolicyRow = {
  tenant_id: string;
  subscription_id: string;
  plan_id: string;
  /** False when the plan has no routing policy or the subscription is canceled. */
  enabled: boolean;
  priority: number | null;
  match_expression: string | null;
  strategy: string | null;
  targets: string[] | null;
  version: number;
  last_event_id: string;
  updated_at: string;
};

export class SmartGatewayRepository {
  constructor(
    private readonly budgetsTable: string,
    private readonly routingPoliciesTable: string,
  ) {}

  /**
   * Stores the whole budgets row over an older sequence (or a row of an earlier release, which had
   * none: it is replaced, its usage attributes with it). One write, no read.
   */
  async putBudgetRow(row: BudgetRow & { last_event_id: string }): Promise<'applied' | 'stale'> {
    try {
      await dynamo().send(
        new PutCommand({
          TableName: this.budgetsTable,
          Item: row,
          ConditionExpression: 'attribute_not_exists(#sequence) OR #sequence < :sequence',
          ExpressionAttributeNames: { '#sequence': 'sequence' },
          ExpressionAttributeValues: { ':sequence': row.sequence },
        }),
      );
      return 'applied';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'stale';
      throw error;
    }
  }

  async upsertRoutingPolicy(row: RoutingPolicyRow): Promise<'applied' | 'stale'> {
    const { tenant_id, subscription_id, ...fields } = row;
    return this.versionedUpsert(this.routingPoliciesTable, { tenant_id, subscription_id }, fields, {});
  }

  private async versionedUpsert(
    tableName: string,
    key: Record<string, string>,
    fields: Record<string, unknown> & { version: number },
    initialOnly: Record<string, unknown>,
  ): Promise<'applied' | 'stale'> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = Object.entries(fields).map(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:f${i}`] = value;
      return `#f${i} = :f${i}`;
    });
    Object.entries(initialOnly).forEach(([name, value], i) => {
      names[`#i${i}`] = name;
      values[`:i${i}`] = value;
      sets.push(`#i${i} = if_not_exists(#i${i}, :i${i})`);
    });
    names['#version'] = 'version';
    try {
      await dynamo().send(
        new UpdateCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_not_exists(#version) OR #version < :f_new_version',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...values, ':f_new_version': fields.version },
        }),
      );
      return 'applied';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'stale';
      throw error;
    }
  }
}

export const routingPolicyFields = (policy: RoutingPolicy | null, enabled: boolean) => ({
  enabled: enabled && policy !== null,
  priority: policy?.priority ?? null,
  match_expression: policy?.match_expression ?? null,
  strategy: policy?.strategy ?? null,
  targets: policy?.targets ?? null,
});
