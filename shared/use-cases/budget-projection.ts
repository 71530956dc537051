import { applyBudgetInputs, type BudgetInput, ledgersNeeded } from '../domain/budget.ts';
import type { BudgetPolicy } from '../domain/budget-policy.ts';
import { DomainError } from '../domain/errors.ts';
import type {
  InvoicePaidEventData,
  SubscriptionEventData,
  UsageAggregatedEventData,
} from '../events/catalog.ts';
import type { EventEnvelope } from '../events/envelope.ts';
import { BudgetRepository } from '../store/budget-repository.ts';

/** Reads and writes of one subscription's projection before giving up (one writer is the design). */
const ATTEMPTS = 5;

/**
 * The subscription an event is about and what it means for its budget, or undefined for an event
 * that moves no budget (a one-off invoice belongs to no subscription).
 */
export function budgetInputOf(
  event: EventEnvelope,
): { subscriptionId: string; input: BudgetInput } | undefined {
  switch (event.type) {
    case 'subscription.created':
    case 'subscription.updated': {
      const data = event.data as unknown as SubscriptionEventData & { budget_policy?: BudgetPolicy };
      return {
        subscriptionId: data.subscription_id,
        input: {
          kind: 'subscription',
          version: event.entity_version,
          at: event.occurred_at,
          subscription: {
            tenant_id: data.tenant_id,
            plan_id: data.plan_id,
            total_budget: data.total_budget,
            currency: data.currency,
            status: data.status,
            cancel_at_period_end: data.cancel_at_period_end,
            period_start: data.period_start,
            period_end: data.period_end,
            ...(data.budget_policy ? { budget_policy: data.budget_policy } : {}),
          },
        },
      };
    }
    case 'usage.aggregated': {
      const data = event.data as unknown as UsageAggregatedEventData;
      return {
        subscriptionId: data.subscription_id,
        input: {
          kind: 'usage',
          at: event.occurred_at,
          usage: {
            period_start: data.period_start,
            period_end: data.period_end,
            metric: data.metric,
            price: data.price,
            shard: data.shard,
            quantity: data.quantity,
          },
        },
      };
    }
    case 'invoice.paid': {
      const data = event.data as unknown as InvoicePaidEventData;
      if (data.subscription_id === null) return undefined;
      return {
        subscriptionId: data.subscription_id,
        input: {
          kind: 'invoice_paid',
          at: event.occurred_at,
          invoice: {
            invoice_id: data.invoice_id,
            period_start: data.period_start,
            period_end: data.period_end,
          },
        },
      };
    }
    default:
      return undefined;
  }
}

/**
 * Applies one subscription's inputs to its budget projection: one consistent read of the projection
 * and the ledgers they touch, one transaction writing what changed. Nothing changed (duplicates,
 * stale events) writes nothing. Another writer in between (never, with one consumer per
 * subscription) makes it read and apply again.
 */
export async function projectBudget(
  tableName: string,
  subscriptionId: string,
  inputs: readonly BudgetInput[],
  now: Date,
): Promise<'applied' | 'unchanged'> {
  let outcome: 'applied' | 'unchanged' = 'unchanged';
  for (const chunk of withinOneTransaction(inputs)) {
    if ((await projectChunk(tableName, subscriptionId, chunk, now)) === 'applied') outcome = 'applied';
  }
  return outcome;
}

/** A transaction holds 100 items: the projection and at most this many ledgers. */
const MAX_LEDGERS_PER_WRITE = 90;

/** Consecutive runs of inputs touching at most MAX_LEDGERS_PER_WRITE ledgers each, order kept. */
function withinOneTransaction(inputs: readonly BudgetInput[]): BudgetInput[][] {
  const chunks: BudgetInput[][] = [];
  let current: BudgetInput[] = [];
  let ledgers = new Set<string>();
  for (const input of inputs) {
    const [id] = ledgersNeeded([input]);
    if (id !== undefined && !ledgers.has(id) && ledgers.size === MAX_LEDGERS_PER_WRITE) {
      chunks.push(current);
      current = [];
      ledgers = new Set();
    }
    if (id !== undefined) ledgers.add(id);
    current.push(input);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

async function projectChunk(
  tableName: string,
  subscriptionId: string,
  inputs: readonly BudgetInput[],
  now: Date,
): Promise<'applied' | 'unchanged'> {
  const repository = new BudgetRepository(tableName);
  const ledgerIds = ledgersNeeded(inputs);
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const { projection, ledgers } = await repository.read(subscriptionId, ledgerIds, now.toISOString());
    const result = applyBudgetInputs(projection, ledgers, inputs, now.toISOString());
    if (!result) return 'unchanged';
    if (await repository.write(projection.sequence, result.projection, result.ledgers)) return 'applied';
  }
  throw new DomainError(
    'conflict',
    `The budget of ${subscriptionId} kept changing under its projector; retry`,
  );
}
