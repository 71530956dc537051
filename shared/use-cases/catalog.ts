import { randomUUID } from 'node:crypto';
import type { PlanFees } from '../domain/bills.ts';
import { DEFAULT_BUDGET_POLICY } from '../domain/budget-policy.ts';
import { type Plan, type Price, type Product, planFeeOf } from '../domain/catalog.ts';
import { DomainError, notFound, validationError } from '../domain/errors.ts';
import { DEFAULT_FEE_TIMING, type PlanFee } from '../domain/fees.ts';
import { archivedPrice, newPrice } from '../domain/price-rules.ts';
import { type Caller, requireOperator } from '../domain/principal.ts';
import type { CreatePlanRequest, CreatePriceRequest, CreateProductRequest } from '../schemas/catalog.ts';
import { type AuditDraft, auditBy } from '../store/audit.ts';
import { CatalogRepository } from '../store/catalog-repository.ts';
import { type Idempotency, IdempotencyKeyTaken } from '../store/idempotency.ts';
import type { Page } from '../store/pagination.ts';
import { forgetPlanPrices } from '../store/plan-prices-cache.ts';

/**
 * The catalog is not tenant data: any token with the read scope reads all of it, tenant tokens
 * included (a tenant needs to see the plans it can subscribe to). Only operators write it.
 */

type ListQuery = { limit: number; cursor?: string | undefined };

const audit = (
  caller: Caller,
  entity: { type: 'product' | 'plan' | 'price'; id: string },
  action: string,
  before: unknown,
  after: Product | Plan | Price,
): AuditDraft => auditBy(caller, entity.type, entity.id, action, before, after);

// ---- products -------------------------------------------------------------------------------

export async function createProduct(
  tableName: string,
  input: CreateProductRequest,
  caller: Caller,
  idempotency: Idempotency,
): Promise<Product> {
  requireOperator(caller.principal, 'change the catalog');
  const at = caller.now.toISOString();
  const product: Product = {
    id: randomUUID(),
    name: input.name,
    description: input.description ?? null,
    metadata: { ...(input.metadata ?? {}) },
    active: true,
    created_at: at,
    updated_at: at,
    version: 1,
  };
  const outcome = await new CatalogRepository(tableName).createProduct(
    product,
    audit(caller, { type: 'product', id: product.id }, 'product.created', null, product),
    idempotency?.record(product),
  );
  if (!outcome.created) throw new IdempotencyKeyTaken();
  return product;
}

export async function getProduct(tableName: string, productId: string): Promise<Product> {
  const product = await new CatalogRepository(tableName).getProduct(productId);
  if (!product) throw notFound('Product', productId);
  return product;
}

export function listProducts(tableName: string, query: ListQuery): Promise<Page<Product>> {
  return new CatalogRepository(tableName).listAll<Product>('product', query.limit, query.cursor);
}

// ---- plans ----------------------------------------------------------------------------------

export async function createPlan(
  tableName: string,
  input: CreatePlanRequest,
  caller: Caller,
  idempotency: Idempotency,
): Promise<Plan> {
  requireOperator(caller.principal, 'change the catalog');
  const at = caller.now.toISOString();
  const plan: Plan = {
    id: randomUUID(),
    product_id: input.product_id,
    name: input.name,
    currency: input.currency,
    interval: input.interval,
    fee_timing: input.fee_timing ?? DEFAULT_FEE_TIMING,
    total_budget: input.total_budget,
    routing_policy: input.routing_policy ?? null,
    budget_policy: input.budget_policy ?? DEFAULT_BUDGET_POLICY,
    active: true,
    created_at: at,
    updated_at: at,
    version: 1,
  };
  const outcome = await new CatalogRepository(tableName).createPlan(
    plan,
    audit(caller, { type: 'plan', id: plan.id }, 'plan.created', null, plan),
    idempotency?.record(plan),
  );
  if (outcome.created) return plan;
  if (outcome.reason === 'no-such-product')
    throw validationError([{ field: 'product_id', message: 'no such product' }]);
  throw new IdempotencyKeyTaken();
}

/** The plan, or a not-found error. Subscriptions read plans through this. */
export async function getPlan(tableName: string, planId: string): Promise<Plan> {
  const plan = await new CatalogRepository(tableName).getPlan(planId);
  if (!plan) throw notFound('Plan', planId);
  return plan;
}

export function listPlans(
  tableName: string,
  query: ListQuery & { product_id?: string | undefined },
): Promise<Page<Plan>> {
  const repository = new CatalogRepository(tableName);
  return query.product_id === undefined
    ? repository.listAll<Plan>('plan', query.limit, query.cursor)
    : repository.listPlansOfProduct(query.product_id, query.limit, query.cursor);
}

// ---- prices ---------------------------------------------------------------------------------

export async function createPrice(
  tableName: string,
  input: CreatePriceRequest,
  caller: Caller,
  idempotency: Idempotency,
): Promise<Price> {
  requireOperator(caller.principal, 'change the catalog');
  const repository = new CatalogRepository(tableName);
  // A one-time price belongs to a product and says its currency; a plan's price takes the plan's.
  const plan = input.model === 'one_time' ? undefined : await repository.getPlan(input.plan_id);
  if (input.model !== 'one_time' && !plan)
    throw validationError([{ field: 'plan_id', message: 'no such plan' }]);
  const currency = input.model === 'one_time' ? input.currency : (plan?.currency ?? '');
  const price = newPrice(input, currency, randomUUID(), caller.now);
  const outcome = await repository.createPrice(
    price,
    audit(caller, { type: 'price', id: price.id }, 'price.created', null, price),
    idempotency?.record(price),
  );
  if (outcome.created) {
    if (price.plan_id) forgetPlanPrices(price.plan_id);
    return price;
  }
  if (outcome.reason === 'idempotency-key-taken') throw new IdempotencyKeyTaken();
  if (outcome.reason === 'no-such-product')
    throw validationError([{ field: 'product_id', message: 'no such product' }]);
  const holder = outcome.activePriceId ? `price ${outcome.activePriceId}` : 'another price';
  const archive = outcome.activePriceId
    ? `POST /api/v1/prices/${outcome.activePriceId}/archive`
    : 'archive the active price';
  throw new DomainError(
    'conflict',
    `Plan ${price.plan_id} already has an active price for metric "${price.metric}" (${holder}); ` +
      `archive it first (${archive}), then create the new price`,
    [{ field: 'metric', message: `already priced on this plan by ${holder}; archive that price first` }],
  );
}

export async function getPrice(tableName: string, priceId: string): Promise<Price> {
  const price = await new CatalogRepository(tableName).getPrice(priceId);
  if (!price) throw notFound('Price', priceId);
  return price;
}

export function listPrices(
  tableName: string,
  query: ListQuery & { plan_id?: string | undefined; product_id?: string | undefined },
): Promise<Page<Price>> {
  const repository = new CatalogRepository(tableName);
  if (query.plan_id !== undefined)
    return repository.listPricesOfPlan(query.plan_id, query.limit, query.cursor);
  if (query.product_id !== undefined)
    return repository.listPricesOfProduct(query.product_id, query.limit, query.cursor);
  return repository.listAll<Price>('price', query.limit, query.cursor);
}

/**
 * The plan with its fee as billing uses it (amount from its active flat prices, timing, interval)
 * and the metrics its active prices rate.
 */
export async function getPlanFee(
  tableName: string,
  planId: string,
): Promise<{ plan: Plan; fee: PlanFee; metrics: string[] }> {
  const [plan, prices] = await Promise.all([getPlan(tableName, planId), listPlanPrices(tableName, planId)]);
  const metrics = prices.flatMap((price) => (price.active && price.metric !== null ? [price.metric] : []));
  return { plan, fee: planFeeOf(plan, prices), metrics };
}

/**
 * The fees now of every plan in `planIds` (each read once), as the lookup the billing rules take;
 * `feeOf` reads one plan's fee (the period close passes one that caches across subscriptions).
 */
export async function planFeesFor(
  tableName: string,
  planIds: readonly string[],
  feeOf: (planId: string) => Promise<PlanFee> = async (planId) => (await getPlanFee(tableName, planId)).fee,
): Promise<PlanFees> {
  const unique = [...new Set(planIds)];
  const fees = new Map(await Promise.all(unique.map(async (id) => [id, await feeOf(id)] as const)));
  return (planId) => {
    const fee = fees.get(planId);
    if (!fee) throw new Error(`The fee of plan ${planId} was not read for this change`);
    return fee;
  };
}

/** Every price of a plan, archived ones included (invoices rate with the price they sold at). */
export async function listPlanPrices(tableName: string, planId: string): Promise<Price[]> {
  return new CatalogRepository(tableName).allPricesOfPlan(planId);
}

/** Archives an active price and frees its metric for a new price; an archived price stays archived. */
export async function archivePrice(
  tableName: string,
  priceId: string,
  caller: Caller,
  idempotency: Idempotency,
): Promise<Price> {
  requireOperator(caller.principal, 'change the catalog');
  const repository = new CatalogRepository(tableName);
  const before = await repository.getPrice(priceId);
  if (!before) throw notFound('Price', priceId);
  const after = archivedPrice(before, caller.now);
  const outcome = await repository.archivePrice(
    before,
    after,
    audit(caller, { type: 'price', id: priceId }, 'price.archived', before, after),
    idempotency?.record(after),
  );
  if (outcome.archived) {
    if (after.plan_id) forgetPlanPrices(after.plan_id);
    return after;
  }
  if (outcome.reason === 'idempotency-key-taken') throw new IdempotencyKeyTaken();
  // Someone else archived it between our read and our write: say so, as for a second archive.
  const current = await repository.getPrice(priceId);
  if (current) archivedPrice(current, caller.now);
  throw new DomainError('version-conflict', `Price ${priceId} changed while it was being archived; retry`);
}
