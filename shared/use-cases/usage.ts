import type { Price } from '../domain/catalog.ts';
import { DomainError, type FieldError, notFound, validationError } from '../domain/errors.ts';
import { type Caller, canAccessCustomer } from '../domain/principal.ts';
import { rateUsage } from '../domain/rating.ts';
import type { Subscription } from '../domain/subscription.ts';
import { countedAt, decideUsage, plansAt, usagePeriodFor } from '../domain/usage.ts';
import { MAX_USAGE_LINE_AMOUNT, periodQuantityLimit, shardQuantityLimit } from '../domain/usage-limits.ts';
import { fieldErrorsOf } from '../http/validation.ts';
import { type UsageRecordInput, UsageRecordSchema } from '../schemas/usage.ts';
import { cachedPlanPrices } from '../store/plan-prices-cache.ts';
import { SubscriptionsRepository } from '../store/subscriptions-repository.ts';
import { UsageRepository, type UsageWrite } from '../store/usage-repository.ts';

export type UsageResult = {
  index: number;
  idempotency_key: string | null;
  status: 'accepted' | 'duplicate' | 'rejected';
  period_start?: string;
  error?: { status: number; detail: string; errors: FieldError[] };
};

export type UsageBatchResult = {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: UsageResult[];
};

/**
 * Ingests usage records, each on its own: a record is validated, checked against its subscription
 * and plan, and counted exactly once (its idempotency key is claimed in the same transaction that
 * adds it to the period's aggregate). One bad record is reported by its index; the others still
 * count. The batch is therefore per record, never all-or-nothing.
 */
export async function ingestUsage(
  tableName: string,
  request: { records: readonly unknown[]; batch: boolean },
  caller: Caller,
): Promise<UsageBatchResult> {
  const { records: rawRecords, batch } = request;
  const results: UsageResult[] = rawRecords.map((_, index) => ({
    index,
    idempotency_key: null,
    status: 'rejected',
  }));
  const parsed: { index: number; record: UsageRecordInput }[] = [];
  rawRecords.forEach((raw, index) => {
    const outcome = UsageRecordSchema.safeParse(raw);
    const key = (raw as { idempotency_key?: unknown } | null)?.idempotency_key;
    results[index]!.idempotency_key = typeof key === 'string' ? key : null;
    if (outcome.success) parsed.push({ index, record: outcome.data });
    else
      reject(
        results[index]!,
        400,
        'The record is invalid',
        fieldErrorsOf(outcome.error, batch ? `records.${index}` : undefined),
      );
  });

  const context = await loadContext(
    tableName,
    parsed.map((p) => ({
      subscriptionId: p.record.subscription_id,
      at: p.record.timestamp ? new Date(p.record.timestamp) : caller.now,
      metric: p.record.metric,
    })),
    caller.now,
  );
  const writes: UsageWrite[] = [];
  const firstIndexOfKey = new Map<string, number>();
  for (const { index, record } of parsed) {
    const result = results[index]!;
    const subscription = context.subscriptions.get(record.subscription_id);
    const visible =
      subscription && canAccessCustomer(caller.principal, subscription.customer_id)
        ? subscription
        : undefined;
    const at = record.timestamp ? new Date(record.timestamp) : caller.now;
    const decision = decideUsage(
      visible,
      (planId) => context.prices.get(planId) ?? [],
      record.metric,
      at,
      caller.now,
    );
    if (!decision.ok) {
      const prefix = batch ? `records.${index}.` : '';
      reject(
        result,
        decision.status,
        decision.detail,
        decision.errors.map((e) => ({ ...e, field: prefix + e.field })),
      );
      continue;
    }
    const keyId = `${record.subscription_id}#${record.idempotency_key}`;
    if (firstIndexOfKey.has(keyId)) {
      result.status = 'duplicate';
      continue;
    }
    firstIndexOfKey.set(keyId, index);
    result.period_start = decision.period.start.toISOString();
    writes.push({
      index,
      subscription_id: record.subscription_id,
      customer_id: visible!.customer_id,
      idempotency_key: record.idempotency_key,
      metric: record.metric,
      quantity: record.quantity,
      timestamp: at.toISOString(),
      period_start: decision.period.start.toISOString(),
      period_end: decision.period.end.toISOString(),
      price: decision.price,
    });
  }

  const repository = new UsageRepository(tableName);
  // A batch first reads which keys were already counted (1 read each, cheaper than failing a
  // 100-item transaction); a single record goes straight to its transaction, which dedupes anyway.
  const seen = writes.length > 1 ? await repository.alreadyCounted(writes) : new Set<string>();
  const fresh = writes.filter((w) => !seen.has(`${w.subscription_id}#${w.idempotency_key}`));
  for (const write of writes) if (!fresh.includes(write)) results[write.index]!.status = 'duplicate';
  const outcomes = await repository.count(fresh, caller.now);
  for (const [index, outcome] of outcomes) {
    const result = results[index]!;
    if (outcome === 'period-closed') {
      delete result.period_start;
      reject(result, 409, 'The period is invoiced', [
        {
          field: `${batch ? `records.${index}.` : ''}timestamp`,
          message: 'falls in a period whose invoice is finalized; late usage is no longer accepted',
        },
      ]);
    } else if (outcome === 'over-limit') {
      delete result.period_start;
      const write = writes.find((w) => w.index === index)!;
      reject(result, 422, 'The period would bill more than an invoice line can hold', [
        {
          field: `${batch ? `records.${index}.` : ''}quantity`,
          message:
            `would take this period's "${write.metric}" total near or past ${periodQuantityLimit(write.price)} ` +
            `(what rates to ${MAX_USAGE_LINE_AMOUNT} minor units at price ${write.price.id}; one record may ` +
            `be at most ${shardQuantityLimit(write.price)}); records before this one are counted`,
        },
      ]);
    } else {
      result.status = outcome;
    }
  }
  return {
    accepted: results.filter((r) => r.status === 'accepted').length,
    duplicates: results.filter((r) => r.status === 'duplicate').length,
    rejected: results.filter((r) => r.status === 'rejected').length,
    results,
  };
}

function reject(result: UsageResult, status: number, detail: string, errors: FieldError[]): void {
  result.status = 'rejected';
  result.error = { status, detail, errors };
}

/**
 * Each subscription and the prices of the plans its records were used under, read once per request
 * however many records name them (the prices from the process's short-lived cache,
 * store/plan-prices-cache.ts, which says why that cannot mis-rate).
 */
async function loadContext(
  tableName: string,
  records: readonly { subscriptionId: string; at: Date; metric: string }[],
  now: Date,
) {
  const subscriptionsRepository = new SubscriptionsRepository(tableName);
  const subscriptions = new Map<string, Subscription>();
  await Promise.all(
    [...new Set(records.map((r) => r.subscriptionId))].map(async (id) => {
      // Strongly consistent: a cancellation or plan change committed before this request is seen.
      const subscription = await subscriptionsRepository.get(id, true);
      if (subscription) subscriptions.set(id, subscription);
    }),
  );
  const plansOf = (record: (typeof records)[number]) => {
    const subscription = subscriptions.get(record.subscriptionId);
    return subscription ? plansAt(subscription, countedAt(record.at, now)) : [];
  };
  const prices = new Map<string, Price[]>();
  const read = (planIds: Iterable<string>, fresh: boolean) =>
    Promise.all(
      [...planIds].map(async (planId) => {
        prices.set(planId, await cachedPlanPrices(tableName, planId, { fresh }));
      }),
    );
  await read(new Set(records.flatMap(plansOf)), false);
  // The cache decides a record's price only when its first plan prices the metric: otherwise (no
  // plan does, or a later item's plan would) every plan of the record is read again first, so an
  // entry older than another's can never hand the metric to the wrong item, and no record is
  // refused on a cached word.
  const undecided = records.filter((record) => {
    const first = plansOf(record)[0];
    return !prices.get(first ?? '')?.some((price) => price.active && price.metric === record.metric);
  });
  if (undecided.length > 0) await read(new Set(undecided.flatMap(plansOf)), true);
  return { subscriptions, prices };
}

export type UsageView = {
  subscription_id: string;
  period_start: string;
  period_end: string;
  currency: string;
  metrics: { metric: string; quantity: string; records: number; amount: number; price_id: string }[];
};

/** The exact usage of the period containing `at` (default now), per metric, rated with its price. */
export async function getUsage(
  tableName: string,
  subscriptionId: string,
  query: { metric?: string | undefined; at?: string | undefined },
  caller: Caller,
): Promise<UsageView> {
  const subscription = await new SubscriptionsRepository(tableName).get(subscriptionId);
  if (!subscription || !canAccessCustomer(caller.principal, subscription.customer_id)) {
    throw notFound('Subscription', subscriptionId);
  }
  const at = query.at ? new Date(query.at) : caller.now;
  const period = usagePeriodFor(subscription, at);
  if (!period)
    throw validationError([{ field: 'at', message: 'is in no billing period of this subscription' }]);
  const aggregates = await new UsageRepository(tableName).aggregates(
    subscriptionId,
    period.start.toISOString(),
  );
  return {
    subscription_id: subscriptionId,
    period_start: period.start.toISOString(),
    period_end: period.end.toISOString(),
    currency: subscription.currency,
    metrics: aggregates
      .filter((a) => query.metric === undefined || a.metric === query.metric)
      .map((a) => ({
        metric: a.metric,
        quantity: a.quantity,
        records: a.records,
        amount: ratedWithinLimit(a.price, a.quantity, a.metric),
        price_id: a.price.id,
      })),
  };
}

/**
 * A period total rated; a total counted before the usage limit existed may rate past what an
 * invoice holds: then a 409 saying so, never a RangeError (a 500).
 */
function ratedWithinLimit(price: Price, quantity: string, metric: string): number {
  try {
    return rateUsage(price, quantity);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new DomainError(
      'conflict',
      `This period's "${metric}" total (${quantity}) rates past ${MAX_USAGE_LINE_AMOUNT} minor units, more than an invoice line can hold; it was counted before the usage limit existed (docs/billing-rules.md, "Limits")`,
    );
  }
}
