import { randomUUID } from 'node:crypto';
import { billAtStart } from '../domain/bills.ts';
import { DomainError, notFound, validationError } from '../domain/errors.ts';
import { draftInvoice, MAX_PENDING_ITEMS_PER_INVOICE } from '../domain/invoice.ts';
import { type Caller, canAccessCustomer, type Principal, requireOperator } from '../domain/principal.ts';
import { applyPatch, newSubscription, type Subscription } from '../domain/subscription.ts';
import { feesOf } from '../domain/subscription-items.ts';
import type { CreateSubscriptionRequest, UpdateSubscriptionRequest } from '../schemas/subscriptions.ts';
import { type AuditDraft, auditBy } from '../store/audit.ts';
import { IdempotencyKeyTaken, type IdempotentWrite } from '../store/idempotency.ts';
import { InvoicesRepository } from '../store/invoices-repository.ts';
import type { Page } from '../store/pagination.ts';
import { SubscriptionsRepository } from '../store/subscriptions-repository.ts';
import { closeSubscriptionPeriods } from './invoicing/close-periods.ts';
import { NO_USAGE, periodUsage } from './invoicing/period-usage.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from './optimistic.ts';
import {
  feesForChange,
  fieldOf,
  namedItems,
  roomForPendingItems,
  wantedItems,
} from './subscription-items.ts';
import { checkedTaxRateIds } from './tax-rates.ts';

/** Concurrent writers without a version of their own are retried this many times on a conflict. */
const UNCONDITIONAL_ATTEMPTS = 4;

const audit = (
  caller: Caller,
  action: string,
  subscriptionId: string,
  before: unknown,
  after: unknown,
): AuditDraft => auditBy(caller, 'subscription', subscriptionId, action, before, after);

/**
 * Subscribes a customer to a plan, or to several (`items`: a base plan and add-ons). Items billed in
 * advance with a fee get their first period's invoice (`subscription_create`) in the same
 * transaction as the subscription.
 */
export async function createSubscription(
  tableName: string,
  input: CreateSubscriptionRequest,
  caller: Caller,
  idempotency: { record: (body: unknown) => IdempotentWrite } | undefined,
): Promise<Subscription> {
  if (!canAccessCustomer(caller.principal, input.customer_id)) {
    throw new DomainError('forbidden', `This token may only subscribe customer ${caller.principal.tenantId}`);
  }
  // How much the gateway lets through, and how, is the seller's decision: a tenant could lift its own cap.
  if (input.budget_policy !== undefined)
    requireOperator(caller.principal, "set a subscription's budget policy");
  if (input.total_budget !== undefined)
    requireOperator(caller.principal, "set a subscription's total_budget");
  // What a customer is taxed at is the seller's decision too: a tenant could untax itself.
  if (input.default_tax_rate_ids !== undefined)
    requireOperator(caller.principal, "set a subscription's tax rates");
  const field = fieldOf(input);
  const items = (await namedItems(tableName, input))!;
  const taxRateIds = await subscriptionTaxRateIds(tableName, input.default_tax_rate_ids);
  const subscription = newSubscription(
    {
      id: randomUUID(),
      customerId: input.customer_id,
      items,
      trialDays: input.trial_days ?? 0,
      totalBudget: input.total_budget,
      budgetPolicy: input.budget_policy,
      taxRateIds,
      field,
    },
    caller.now,
  );
  const bill = billAtStart(subscription, feesOf(items));
  const invoice = bill
    ? draftInvoice(subscription, bill, { usage: [], pendingItems: [], version: 1 }, caller.now)
    : undefined;
  const outcome = await new SubscriptionsRepository(tableName).create(
    subscription,
    audit(caller, 'subscription.created', subscription.id, null, subscription),
    idempotency?.record(subscription),
    invoice
      ? new InvoicesRepository(tableName).draftItems(
          invoice,
          auditBy(caller, 'invoice', invoice.id, 'invoice.created', null, invoice),
          [],
        )
      : [],
  );
  if (outcome.created) return subscription;
  switch (outcome.reason) {
    case 'idempotency-key-taken':
      throw new IdempotencyKeyTaken();
    case 'no-such-customer':
      throw validationError([{ field: 'customer_id', message: `no customer ${input.customer_id}` }]);
    case 'plan-not-active':
      throw new DomainError('conflict', `Plan ${outcome.planId} is archived; subscribe to an active plan`);
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
 * PATCH: plan change (prorated, or billed at once), budget change, tax rates, cancel at period end, cancel now
 * (billed at once). With a version (body `version` or If-Match) the change applies only to that
 * version, else 409; without one it applies to whatever is current, re-read and re-checked if a
 * concurrent writer got there first. A period that has ended is closed first, as the scheduled job
 * would have, so the change applies to the period it happens in.
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
  // Choosing not to be billed for a change is the seller's decision, not the customer's.
  if (patch.proration_behavior === 'none') {
    requireOperator(
      caller.principal,
      'change a subscription without billing the change (proration_behavior none)',
    );
  }
  // How the gateway enforces a budget is the seller's decision too: a tenant could lift its own cap.
  if (patch.budget_policy !== undefined)
    requireOperator(caller.principal, "change a subscription's budget policy");
  if (patch.total_budget !== undefined)
    requireOperator(caller.principal, "change a subscription's total_budget");
  if (patch.default_tax_rate_ids !== undefined)
    requireOperator(caller.principal, "change a subscription's tax rates");
  const taxRateIds = await subscriptionTaxRateIds(tableName, patch.default_tax_rate_ids);
  const expected = patch.version ?? ifMatchVersion;
  const repository = new SubscriptionsRepository(tableName);
  const field = fieldOf(patch);
  // The plans the request names, read once for every attempt.
  const requested = await namedItems(tableName, patch);

  const read = async () => {
    let current = await repository.get(id, true);
    if (!current || !canAccessCustomer(caller.principal, current.customer_id))
      throw notFound('Subscription', id);
    if (expected !== undefined && current.version !== expected)
      throw versionConflict(id, expected, current.version);
    // The period ended and the scheduled close has not run yet: close it now (its own version bump is
    // not the caller's concern: the version they sent was current before the close). A close that
    // lost a race (the job, dunning) is tried again on a fresh read: a change never lands in a period
    // that has ended.
    for (
      let closes = 0;
      current.status !== 'canceled' && new Date(current.current_period_end) <= caller.now;
      closes++
    ) {
      if (closes >= UNCONDITIONAL_ATTEMPTS) throw changingConcurrently(`Subscription ${id}`);
      await closeSubscriptionPeriods(tableName, current, caller);
      const closed: Subscription | undefined = await repository.get(id, true);
      if (!closed) throw notFound('Subscription', id);
      current = closed;
    }
    return current;
  };

  return retryOnLostRace(
    UNCONDITIONAL_ATTEMPTS,
    async () => {
      const current = await read();
      const items = requested && (await wantedItems(tableName, current, requested, patch));
      const fees =
        items || patch.cancel_now ? await feesForChange(tableName, current, items ?? []) : undefined;
      // A request stamped before the period it finds (it raced the close) applies at that period's
      // start: a change never lands in a period that has ended.
      const moment = new Date(Math.max(caller.now.getTime(), Date.parse(current.current_period_start)));
      const outcome = applyPatch(
        current,
        {
          fees,
          items,
          itemField: field,
          prorationBehavior: patch.proration_behavior,
          totalBudget: patch.total_budget,
          budgetPolicy: patch.budget_policy,
          taxRateIds,
          cancelAtPeriodEnd: patch.cancel_at_period_end,
          cancelNow: patch.cancel_now,
          prorate: patch.prorate,
        },
        moment,
      );
      if (outcome.changes.length === 0) return current;
      if (outcome.pendingItems.length > 0)
        await roomForPendingItems(tableName, current, outcome.pendingItems.length);
      const invoiceItems = outcome.bill
        ? await invoiceNow(tableName, current, outcome.bill, outcome.subscription.version, caller)
        : [];
      const { updated } = await repository.update(
        outcome.subscription,
        current.version,
        audit(caller, 'subscription.updated', id, current, {
          ...outcome.subscription,
          changes: outcome.changes,
        }),
        outcome.pendingItems,
        (item) => auditBy(caller, 'pending_item', item.id, 'proration.created', null, item),
        invoiceItems,
      );
      if (updated) return outcome.subscription;
      if (expected !== undefined) {
        const latest = await repository.get(id, true);
        throw versionConflict(id, expected, latest?.version ?? current.version);
      }
      return LOST_RACE;
    },
    async () => {
      // Without a version of its own, the change lost every race to other writers: nothing the caller
      // sent is stale, so say so rather than name a version they never sent.
      if (expected === undefined) throw changingConcurrently(`Subscription ${id}`, 'send the change again');
      const latest = await repository.get(id, true);
      throw versionConflict(id, expected, latest?.version ?? 0);
    },
  );
}

/**
 * The transaction items of the invoice a change drafts at once (cancel now, another interval,
 * always_invoice): the bill's charges, every pending item, and the usage of the period it ends.
 */
async function invoiceNow(
  tableName: string,
  current: Subscription,
  bill: NonNullable<ReturnType<typeof applyPatch>['bill']>,
  version: number,
  caller: Caller,
) {
  const [usage, pending] = await Promise.all([
    bill.billsUsage ? periodUsage(tableName, current.id, current.current_period_start) : NO_USAGE,
    new SubscriptionsRepository(tableName).pendingItems(current.id),
  ]);
  // Every pending item, those made at this very moment too (two changes in one millisecond).
  const taken = pending.slice(0, MAX_PENDING_ITEMS_PER_INVOICE);
  const invoice = draftInvoice(current, bill, { ...usage, pendingItems: taken, version }, caller.now);
  return new InvoicesRepository(tableName).draftItems(
    invoice,
    auditBy(caller, 'invoice', invoice.id, 'invoice.created', null, invoice),
    taken,
  );
}

/** Rates about to be set on a subscription, checked; null (the customer's) and undefined (unchanged) pass. */
const subscriptionTaxRateIds = async (tableName: string, ids: string[] | null | undefined) =>
  ids === undefined || ids === null ? ids : checkedTaxRateIds(tableName, ids, 'default_tax_rate_ids');

const versionConflict = (id: string, expected: number, actual: number) =>
  new DomainError(
    'version-conflict',
    `Subscription ${id} is at version ${actual}, not ${expected}; GET it again and re-apply your change`,
  );
