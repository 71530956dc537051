import type { Price } from '../../shared/domain/catalog.ts';
import type { Caller } from '../../shared/domain/principal.ts';
import type { CreatePriceRequest } from '../../shared/schemas/catalog.ts';
import { createPlan, createPrice, createProduct } from '../../shared/use-cases/catalog.ts';
import { createCustomer } from '../../shared/use-cases/customers.ts';
import { createSubscription } from '../../shared/use-cases/subscriptions.ts';
import { customerInput } from './fixtures.ts';

/** A price body for planWithPrices: POST /prices without its plan_id (a plan's price, not one-time). */
export type PlanPriceInput = DistributiveOmit<Exclude<CreatePriceRequest, { model: 'one_time' }>, 'plan_id'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * A product and a monthly USD plan (budget 1) with `prices`, through the catalog use cases, for
 * integration tests on the real local store.
 */
export async function planWithPrices(tableName: string, caller: Caller, prices: PlanPriceInput[]) {
  const product = await createProduct(tableName, { name: 'Test product' }, caller, undefined);
  const plan = await createPlan(
    tableName,
    { product_id: product.id, name: 'Test plan', currency: 'USD', interval: 'month', total_budget: 1 },
    caller,
    undefined,
  );
  const created: Price[] = [];
  for (const price of prices) {
    created.push(
      await createPrice(tableName, { ...price, plan_id: plan.id } as CreatePriceRequest, caller, undefined),
    );
  }
  return { product, plan, prices: created };
}

/** A new customer subscribed to `planIds`, the first as the base item, the rest as add-ons. */
export async function subscribedCustomer(tableName: string, caller: Caller, planIds: string[]) {
  const customer = await createCustomer(tableName, customerInput(), caller, undefined);
  return createSubscription(
    tableName,
    { customer_id: customer.id, items: planIds.map((plan_id) => ({ plan_id })) },
    caller,
    undefined,
  );
}
