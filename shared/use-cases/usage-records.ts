import { config } from '../config.ts';
import { DomainError, notFound, validationError } from '../domain/errors.ts';
import type { InvoiceLine } from '../domain/invoice.ts';
import { type Caller, canAccessCustomer } from '../domain/principal.ts';
import { usagePeriodFor, usageRecordsKeptUntil } from '../domain/usage.ts';
import type { Page } from '../store/pagination.ts';
import { SubscriptionsRepository } from '../store/subscriptions-repository.ts';
import { type UsageRecordEntry, UsageRepository } from '../store/usage-repository.ts';
import { invoiceFor } from './invoicing/invoices.ts';

type PageQuery = { limit: number; cursor?: string | undefined };

/** The latest moment a Date holds (ms): no records, nothing that expires. */
const FOREVER = 8.64e15;

/**
 * The records counted into one usage line of an invoice, page by page: exactly those, so their
 * count, quantity sum and digest are the line's (for a draft, the period's records so far: its lines
 * are recomputed when it is finalized). Another tenant's invoice does not exist for the caller.
 */
export async function listLineUsageRecords(
  tableName: string,
  invoiceId: string,
  lineId: string,
  query: PageQuery,
  caller: Caller,
): Promise<Page<UsageRecordEntry>> {
  const invoice = await invoiceFor(tableName, invoiceId, caller.principal);
  const line = invoice.lines.find((candidate) => candidate.id === lineId);
  if (!line) throw notFound('Invoice line', lineId);
  if (line.kind !== 'usage') {
    throw new DomainError(
      'unprocessable',
      `Line ${lineId} is a ${line.kind} line; only usage lines are made of usage records`,
    );
  }
  requireListable(line, caller.now);
  // Usage lines are only on a subscription's invoices (a one-off invoice has none).
  if (invoice.subscription_id === null) throw notFound('Invoice line', lineId);
  return new UsageRepository(tableName).listRecords(
    invoice.subscription_id,
    line.period_start,
    { metric: line.metric ?? '', priceId: line.price_id ?? '' },
    query.limit,
    query.cursor,
  );
}

/** The records of a subscription's period (the current one, or the one containing `at`), all or one metric's. */
export async function listSubscriptionUsageRecords(
  tableName: string,
  subscriptionId: string,
  query: PageQuery & { metric?: string | undefined; at?: string | undefined },
  caller: Caller,
): Promise<Page<UsageRecordEntry>> {
  const subscription = await new SubscriptionsRepository(tableName).get(subscriptionId);
  if (!subscription || !canAccessCustomer(caller.principal, subscription.customer_id)) {
    throw notFound('Subscription', subscriptionId);
  }
  const period = usagePeriodFor(subscription, query.at ? new Date(query.at) : caller.now);
  if (!period)
    throw validationError([{ field: 'at', message: 'is in no billing period of this subscription' }]);
  const repository = new UsageRepository(tableName);
  if (caller.now >= period.end) {
    // An ended period (`at`): its records last as long as the shortest retention they were counted with.
    const aggregates = await repository.aggregates(subscriptionId, period.start.toISOString());
    const keptUntil = new Date(
      Math.min(
        FOREVER,
        ...aggregates
          .filter((a) => query.metric === undefined || a.metric === query.metric)
          .map((a) => Date.parse(a.records_kept_until)),
      ),
    );
    if (caller.now >= keptUntil) throw expired(keptUntil);
  }
  return repository.listRecords(
    subscriptionId,
    period.start.toISOString(),
    { metric: query.metric },
    query.limit,
    query.cursor,
  );
}

/**
 * A listing that would be short answers 410 instead: records past their retention (DynamoDB's TTL
 * deletes them), or a line counted (at least partly) before records were indexed for listing, which
 * is exactly a line without a digest. The line itself (records, quantity, digest) stays the evidence.
 */
function requireListable(line: InvoiceLine, now: Date): void {
  if (line.records_digest === null) {
    throw new DomainError(
      'gone',
      `The records of line ${line.id} were counted, at least partly, before usage records were kept for listing (its records_digest is null); they cannot be listed`,
    );
  }
  // What the records were counted with; a line finalized before it was recorded: the setting now.
  const keptUntil = line.records_kept_until
    ? new Date(line.records_kept_until)
    : usageRecordsKeptUntil(line.period_end, config().usageRecordRetentionDays);
  if (now >= keptUntil) throw expired(keptUntil);
}

const expired = (keptUntil: Date): DomainError =>
  new DomainError(
    'gone',
    `These usage records were kept until ${keptUntil.toISOString()} and are deleted (USAGE_RECORD_RETENTION_DAYS after their period ended); the invoice line's records, quantity and records_digest still state what they were`,
  );
