import { randomUUID } from 'node:crypto';
import { recurringFee } from '../domain/catalog.ts';
import { DomainError, notFound, validationError } from '../domain/errors.ts';
import { type Caller, canAccessCustomer, type Principal } from '../domain/principal.ts';
import { applyPatch, newSubscription, type Subscription } from '../domain/subscription.ts';
import type { CreateSubscriptionRequest, UpdateSubscriptionRequest } from '../schemas/subscriptions.ts';
import { type AuditDraft, auditBy } from '../store/audit.ts';
import { IdempotencyKeyTaken, type IdempotentWrite } from '../store/idempotency.ts';
import type { Page } from '../store/pagination.ts';
import { SubscriptionsRepository } from '../store/subscriptions-repository.ts';
import { getPlan, listPlanPrices } from './catalog.ts';

/** Concurrent writers without a version of their own are retried this many times on a conflict. */
const UNCONDITIONAL_RETRIES = 3;

const audit = (
  caller: Caller,
  action: string,
  subscriptionId: string,
  before: unknown,
  after: unknown,
): AuditDraft => auditBy(caller, 'subscription', subscriptionId, action, before, after);

export async function createSubscription(
  tableName: string,
  input: CreateSubscriptionRequest,
  caller: Caller,
  idempotency: { record: (body: unknown) => IdempotentWrite } | undefined,
): Promise<Subscription> {
  if (!canAccessCustomer(caller.principal, input.customer_id)) {
    throw new DomainError('forbidden', `This token may only subscribe customer ${caller.principal.tenantId}`);
  }
  const plan = await getPlan(tableName, input.plan_id).catch((error: unknown) => {
    if (error instanceof DomainError && error.kind === 'not-found') {
      throw validationError([{ field: 'plan_id', message: `no plan ${input.plan_id}` }]);
    }
    throw error;
  });
  const subscription = newSubscription(
    {
      id: randomUUID(),
      customerId: input.customer_id,
      plan,
      trialDays: input.trial_days ?? 0,
      totalBudget: input.total_budget,
    },
    caller.now,
  );
  const outcome = await new SubscriptionsRepository(tableName).create(
    subscription,
    audit(caller, 'subscription.created', subscription.id, null, subscription),
    idempotency?.record(subscription),
  );
  if (outcome.created) return subscription;
  switch (outcome.reason) {
    case 'idempotency-key-taken':
      throw new IdempotencyKeyTaken();
    case 'no-such-customer':
      throw validationError([{ field: 'customer_id', message: `no customer ${input.customer_id}` }]);
    case 'plan-not-active':
      throw new DomainError('conflict', `Plan ${input.plan_id} is archived; subscribe to an active plan`);
  }
}

export async function getSubscription(
  tableName: string,
  id: string,
  principal: Principal,
): Promise<Subscription> {
  const subscription = await new SubscriptionsRepository(tableName).get(id);
  if (!subscription || !canAccessCustomer(principal, subscription.customer_id))
    throw notFound('Subscription', id);
  return subscription;
}

export async function listSubscriptions(
  tableName: string,
  query: { limit: number; cursor?: string | undefined; customer_id?: string | undefined },
  principal: Principal,
): Promise<Page<Subscription>> {
  const repository = new SubscriptionsRepository(tableName);
  const customerId = query.customer_id ?? principal.tenantId;
  if (customerId === undefined) return repository.listAll(query.limit, query.cursor);
  if (!canAccessCustomer(principal, customerId)) {
    throw new DomainError(
      'forbidden',
      `This token may only list subscriptions of customer ${principal.tenantId}`,
    );
  }
  return repository.listByCustomer(customerId, query.limit, query.cursor);
}

/**
 * PATCH: plan change (prorated), budget change, cancel at period end, cancel now. With a version
 * (body `version` or If-Match) the change applies only to that version, else 409; without one it
 * applies to whatever is current, re-read and re-checked if a concurrent writer got there first.
 */
export async function updateSubscription(
  tableName: string,
  id: string,
  patch: UpdateSubscriptionRequest,
  ifMatchVersion: number | undefined,
  caller: Caller,
): Promise<Subscription> {
  if (patch.version !== undefined && ifMatchVersion !== undefined && patch.version !== ifMatchVersion) {
    throw validationError([{ field: 'version', message: `disagrees with If-Match (${ifMatchVersion})` }]);
  }
  const expected = patch.version ?? ifMatchVersion;
  const repository = new SubscriptionsRepository(tableName);
  const newPlan = patch.plan_id === undefined ? undefined : await planWithFee(tableName, patch.plan_id);

  for (let attempt = 0; ; attempt++) {
    const current = await repository.get(id, true);
    if (!current || !canAccessCustomer(caller.principal, current.customer_id))
      throw notFound('Subscription', id);
    if (expected !== undefined && current.version !== expected)
      throw versionConflict(id, expected, current.version);
    const oldFee =
      newPlan && newPlan.plan.id !== current.plan_id
        ? recurringFee(await listPlanPrices(tableName, current.plan_id))
        : 0;
    const outcome = applyPatch(
      current,
      {
        plan: newPlan ? { plan: newPlan.plan, oldFee, newFee: newPlan.fee } : undefined,
        totalBudget: patch.total_budget,
        cancelAtPeriodEnd: patch.cancel_at_period_end,
        cancelNow: patch.cancel_now,
      },
      caller.now,
    );
    if (outcome.changes.length === 0) return current;
    const { updated } = await repository.update(
      outcome.subscription,
      current.version,
      audit(caller, 'subscription.updated', id, current, {
        ...outcome.subscription,
        changes: outcome.changes,
      }),
      outcome.pendingItems,
      (item) => auditBy(caller, 'pending_item', item.id, 'proration.created', null, item),
    );
    if (updated) return outcome.subscription;
    if (expected !== undefined || attempt >= UNCONDITIONAL_RETRIES) {
      const latest = await repository.get(id, true);
      throw versionConflict(id, expected ?? current.version, latest?.version ?? current.version);
    }
  }
}

async function planWithFee(tableName: string, planId: string) {
  const plan = await getPlan(tableName, planId).catch((error: unknown) => {
    if (error instanceof DomainError && error.kind === 'not-found') {
      throw validationError([{ field: 'plan_id', message: `no plan ${planId}` }]);
    }
    throw error;
  });
  return { plan, fee: recurringFee(await listPlanPrices(tableName, planId)) };
}

const versionConflict = (id: string, expected: number, actual: number) =>
  new DomainError(
    'version-conflict',
    `Subscription ${id} is at version ${actual}, not ${expected}; GET it again and re-apply your change`,
  );
