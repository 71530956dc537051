import { randomUUID } from 'node:crypto';
import { notFound, validationError } from '../domain/errors.ts';
import type { Invoice } from '../domain/invoice.ts';
import { type Caller, requireOperator } from '../domain/principal.ts';
import type { Subscription } from '../domain/subscription.ts';
import { rateAsApplied, type TaxRate, type TaxRateResource } from '../domain/tax.ts';
import type { CreateTaxRateRequest } from '../schemas/tax-rates.ts';
import { auditBy } from '../store/audit.ts';
import { CatalogRepository } from '../store/catalog-repository.ts';
import { CustomersRepository } from '../store/customers-repository.ts';
import { type Idempotency, IdempotencyKeyTaken } from '../store/idempotency.ts';
import type { Page } from '../store/pagination.ts';
import { SubscriptionsRepository } from '../store/subscriptions-repository.ts';

/**
 * Tax rates (docs/invoicing.md, "Tax"): configuration like the catalog, read by any token with the
 * catalog read scope (a tenant sees what it may be taxed at), written by operators only, never edited.
 */
export async function createTaxRate(
  tableName: string,
  input: CreateTaxRateRequest,
  caller: Caller,
  idempotency: Idempotency,
): Promise<TaxRateResource> {
  requireOperator(caller.principal, 'create tax rates');
  const at = caller.now.toISOString();
  const rate: TaxRateResource = {
    id: randomUUID(),
    display_name: input.display_name,
    jurisdiction: input.jurisdiction ?? null,
    percentage: input.percentage,
    inclusive: input.inclusive,
    description: input.description ?? null,
    active: true,
    created_at: at,
    updated_at: at,
    version: 1,
  };
  const outcome = await new CatalogRepository(tableName).createTaxRate(
    rate,
    auditBy(caller, 'tax_rate', rate.id, 'tax_rate.created', null, rate),
    idempotency?.record(rate),
  );
  if (!outcome.created) throw new IdempotencyKeyTaken();
  return rate;
}

export async function getTaxRate(tableName: string, taxRateId: string): Promise<TaxRateResource> {
  const rate = await new CatalogRepository(tableName).getTaxRate(taxRateId);
  if (!rate) throw notFound('Tax rate', taxRateId);
  return rate;
}

export function listTaxRates(
  tableName: string,
  query: { limit: number; cursor?: string | undefined },
): Promise<Page<TaxRateResource>> {
  return new CatalogRepository(tableName).listAll<TaxRateResource>('tax_rate', query.limit, query.cursor);
}

/**
 * Checks ids about to be set on a customer or a subscription (`field` names them in errors): each
 * must be an active rate, and together all inclusive or all exclusive, since every line of the
 * invoices gets all of them.
 */
export async function checkedTaxRateIds(
  tableName: string,
  ids: readonly string[],
  field: string,
): Promise<string[]> {
  const rates = await new CatalogRepository(tableName).taxRates(ids);
  const found = new Map(rates.map((rate) => [rate.id, rate]));
  const problems = ids.flatMap((id, i) => {
    const rate = found.get(id);
    if (!rate) return [{ field: `${field}.${i}`, message: `no tax rate ${id}` }];
    if (!rate.active) return [{ field: `${field}.${i}`, message: `tax rate ${id} is archived` }];
    return [];
  });
  if (problems.length > 0) throw validationError(problems);
  if (rates.some((rate) => rate.inclusive !== rates[0]!.inclusive))
    throw validationError([
      {
        field,
        message:
          'must be all inclusive or all exclusive: a price cannot both hold a tax and have another added on top',
      },
    ]);
  return [...ids];
}

/**
 * What an invoice about to be finalized is taxed at: its subscription's own rates if it has them,
 * else its customer's, as they are now (`subscription`: the invoice's, when the caller has read it).
 * This is the one place that decides it, the seam where an external tax calculation would plug in.
 */
export async function invoiceTaxRates(
  tableName: string,
  invoice: Pick<Invoice, 'customer_id' | 'subscription_id'>,
  subscription?: Pick<Subscription, 'default_tax_rate_ids'>,
): Promise<TaxRate[]> {
  const own =
    subscription ??
    (invoice.subscription_id === null
      ? undefined
      : await new SubscriptionsRepository(tableName).get(invoice.subscription_id, true));
  const subscriptionRates = own?.default_tax_rate_ids ?? null;
  if (subscriptionRates !== null) return taxRatesOf(tableName, subscriptionRates);
  const customer = await new CustomersRepository(tableName).get(invoice.customer_id, true);
  if (!customer) throw new Error(`Customer ${invoice.customer_id} of an invoice does not exist`);
  return taxRatesOf(tableName, customer.tax_rate_ids);
}

/**
 * The rates of `ids` as they are now, in that order: an id whose rate is gone is an error (rates
 * are never deleted), not a tax silently left out.
 */
async function taxRatesOf(tableName: string, ids: readonly string[]): Promise<TaxRate[]> {
  const rates = await new CatalogRepository(tableName).taxRates(ids);
  if (rates.length !== ids.length) {
    const missing = ids.filter((id) => !rates.some((rate) => rate.id === id));
    throw new Error(`Tax rates ${missing.join(', ')} are set but do not exist`);
  }
  return rates.map(rateAsApplied);
}
