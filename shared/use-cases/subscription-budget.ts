import { budgetRowOf } from '../domain/budget.ts';
import { DomainError } from '../domain/errors.ts';
import type { Principal } from '../domain/principal.ts';
import type { BudgetRow } from '../smart-gateway/budget-row.ts';
import { BudgetRepository } from '../store/budget-repository.ts';
import { getSubscription } from './subscriptions.ts';

/**
 * The SmartGateway budgets row of a subscription as billing sees it, with its sequence: a gateway
 * that missed events (or starts cold) stores it like a `budget.updated` of that sequence, and knows
 * it has every change up to it. Tenancy is the subscription's.
 */
export async function getSubscriptionBudget(
  tableName: string,
  subscriptionId: string,
  principal: Principal,
): Promise<BudgetRow & { thresholds_crossed: string[]; budget_policy: unknown }> {
  await getSubscription(tableName, subscriptionId, principal);
  const projection = await new BudgetRepository(tableName).get(subscriptionId);
  const row = projection ? budgetRowOf(projection) : undefined;
  if (!projection || !row) {
    // Its first event is on its way (milliseconds after the subscription is written).
    throw new DomainError(
      'not-found',
      `The budget of subscription ${subscriptionId} is not computed yet; retry in a second`,
    );
  }
  return { ...row, thresholds_crossed: projection.crossed, budget_policy: projection.policy };
}
