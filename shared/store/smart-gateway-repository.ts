import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { RoutingPolicy } from '../domain/catalog.ts';
import { dynamo } from './client.ts';

/**
 * The SmartGateway's cache tables (SPEC §6). Every write is conditional on the row's version being
 * older than the event's, so a duplicate or out-of-order event changes nothing: idempotent by
 * construction, not by bookkeeping.
 */
export type BudgetRow = {
  tenant_id: string;
  subscription_id: string;
  plan_id: string;
  total_budget: number;
  currency: string;
  period_start: string;
  period_end: string;
  status: string;
  cancel_at_period_end: boolean;
  version: number;
  last_event_id: string;
  updated_at: string;
};

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
   * Inserts or updates the budget row. current_spend starts at 0 and is never touched here; the
   * period is set when the row is first written and afterwards only moves with invoice.paid
   * (SPEC §6), so a closed-but-unpaid period keeps counting against the budget.
   */
  async upsertBudget(row: BudgetRow): Promise<'applied' | 'stale'> {
    const { tenant_id, subscription_id, period_start, period_end, ...fields } = row;
    return this.versionedUpsert(this.budgetsTable, { tenant_id, subscription_id }, fields, {
      current_spend: 0,
      period_start,
      period_end,
    });
  }

  async upsertRoutingPolicy(row: RoutingPolicyRow): Promise<'applied' | 'stale'> {
    const { tenant_id, subscription_id, ...fields } = row;
    return this.versionedUpsert(this.routingPoliciesTable, { tenant_id, subscription_id }, fields, {});
  }

  /**
   * Applies a change to the budgets row computed from the row itself (usage totals → spend):
   * read, compute, write conditioned on the row's `usage_revision`, re-read on a concurrent change.
   * `change` returns the attributes to set, or undefined when the row already holds newer data.
   */
  async updateBudgetFromRow(
    key: { tenant_id: string; subscription_id: string },
    change: (row: Record<string, unknown>) => { set: Record<string, unknown>; remove?: string[] } | undefined,
    attempts = 8,
  ): Promise<'applied' | 'stale'> {
    for (let attempt = 1; ; attempt++) {
      const { Item = {} } = await dynamo().send(
        new GetCommand({ TableName: this.budgetsTable, Key: key, ConsistentRead: true }),
      );
      const updates = change(Item);
      if (!updates) return 'stale';
      const revision = typeof Item.usage_revision === 'number' ? Item.usage_revision : 0;
      const names: Record<string, string> = { '#revision': 'usage_revision' };
      const values: Record<string, unknown> = { ':revision': revision, ':next': revision + 1 };
      const sets = Object.entries(updates.set).map(([name, value], i) => {
        names[`#a${i}`] = name;
        values[`:a${i}`] = value;
        return `#a${i} = :a${i}`;
      });
      const removes = (updates.remove ?? []).map((name, i) => {
        names[`#r${i}`] = name;
        return `#r${i}`;
      });
      try {
        await dynamo().send(
          new UpdateCommand({
            TableName: this.budgetsTable,
            Key: key,
            UpdateExpression:
              `SET ${[...sets, '#revision = :next'].join(', ')}` +
              (removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''),
            ConditionExpression:
              revision === 0
                ? 'attribute_not_exists(#revision) OR #revision = :revision'
                : '#revision = :revision',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
        return 'applied';
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, 5 * attempt * Math.random()));
      }
    }
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
