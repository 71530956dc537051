import { randomUUID } from 'node:crypto';
import { couponTermsProblems, redemptionProblem } from '../domain/coupon-terms.ts';
import { type CouponResource, type CustomerDiscount, MAX_DISCOUNTS_PER_CUSTOMER } from '../domain/coupons.ts';
import { couponProblem } from '../domain/discount.ts';
import { DomainError, notFound, validationError } from '../domain/errors.ts';
import { type Caller, canAccessCustomer, type Principal, requireOperator } from '../domain/principal.ts';
import type { CreateCouponRequest, RedeemCouponRequest } from '../schemas/coupons.ts';
import { auditBy } from '../store/audit.ts';
import { CatalogRepository } from '../store/catalog-repository.ts';
import { DiscountsRepository } from '../store/discounts-repository.ts';
import { type Idempotency, IdempotencyKeyTaken } from '../store/idempotency.ts';
import type { Page } from '../store/pagination.ts';
import { SubscriptionsRepository } from '../store/subscriptions-repository.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from './optimistic.ts';

/**
 * Coupons and their redemptions (docs/invoicing.md, "Discounts"). Coupons are configuration like
 * the catalog (catalog scopes, never edited) but read and written by operators only: a tenant sees
 * the coupons it holds, in its discounts. Redeeming one for a customer, or ending a discount, is an
 * operator's act too: a tenant could discount itself.
 */
export async function createCoupon(
  tableName: string,
  input: CreateCouponRequest,
  caller: Caller,
  idempotency: Idempotency,
): Promise<CouponResource> {
  requireOperator(caller.principal, 'create coupons');
  const at = caller.now.toISOString();
  const coupon: CouponResource = {
    id: randomUUID(),
    name: input.name,
    percent_off: input.percent_off ?? null,
    amount_off: input.amount_off ?? null,
    currency: input.currency ?? null,
    duration: input.duration as CouponResource['duration'],
    duration_in_periods: input.duration_in_periods ?? null,
    max_redemptions: input.max_redemptions ?? null,
    redeem_by: input.redeem_by ?? null,
    times_redeemed: 0,
    active: true,
    created_at: at,
    updated_at: at,
    version: 1,
  };
  const problems = couponTermsProblems(coupon, caller.now);
  if (problems.length > 0) throw validationError(problems);
  const problem = couponProblem(coupon);
  if (problem)
    throw validationError([
      { field: coupon.percent_off === null ? 'amount_off' : 'percent_off', message: problem },
    ]);
  const outcome = await new CatalogRepository(tableName).createCoupon(
    coupon,
    auditBy(caller, 'coupon', coupon.id, 'coupon.created', null, coupon),
    idempotency?.record(coupon),
  );
  if (!outcome.created) throw new IdempotencyKeyTaken();
  return coupon;
}

/** Operators only: a coupon's terms are the seller's (a tenant sees the coupons it holds in its discounts). */
export async function getCoupon(
  tableName: string,
  couponId: string,
  principal: Principal,
): Promise<CouponResource> {
  requireOperator(principal, 'read coupons');
  const coupon = await new DiscountsRepository(tableName).getCoupon(couponId);
  if (!coupon) throw notFound('Coupon', couponId);
  return coupon;
}

export function listCoupons(
  tableName: string,
  query: { limit: number; cursor?: string | undefined },
  principal: Principal,
): Promise<Page<CouponResource>> {
  requireOperator(principal, 'list coupons');
  return new CatalogRepository(tableName).listAll<CouponResource>('coupon', query.limit, query.cursor);
}

/**
 * Redeems a coupon for a customer (all its invoices) or one of its subscriptions. Refused when the
 * coupon's redeem_by has passed or its max_redemptions are taken (409: counted in the same write),
 * when the customer already holds it (live) or holds the most discounts it can, or the subscription
 * is not the customer's.
 */
export async function redeemCoupon(
  tableName: string,
  customerId: string,
  input: RedeemCouponRequest,
  caller: Caller,
  idempotency: Idempotency,
): Promise<CustomerDiscount> {
  requireOperator(caller.principal, 'redeem coupons for customers');
  const repository = new DiscountsRepository(tableName);
  const [coupon, held, subscription] = await Promise.all([
    repository.getCoupon(input.coupon_id),
    repository.discountsOf(customerId),
    input.subscription_id === undefined
      ? Promise.resolve(undefined)
      : new SubscriptionsRepository(tableName).get(input.subscription_id, true),
  ]);
  if (!coupon) throw validationError([{ field: 'coupon_id', message: `no coupon ${input.coupon_id}` }]);
  if (input.subscription_id !== undefined && subscription?.customer_id !== customerId)
    throw validationError([
      {
        field: 'subscription_id',
        message: `customer ${customerId} has no subscription ${input.subscription_id}`,
      },
    ]);
  if (subscription && coupon.amount_off !== null && coupon.currency !== subscription.currency)
    throw validationError([
      {
        field: 'coupon_id',
        message: `coupon ${coupon.id} takes ${coupon.currency} off; subscription ${subscription.id} bills in ${subscription.currency}`,
      },
    ]);
  const live = held.filter((discount) => discount.ended_at === null);
  if (live.some((discount) => discount.coupon.id === coupon.id))
    throw new DomainError(
      'conflict',
      `Customer ${customerId} already holds coupon ${coupon.id}; end that discount first`,
    );
  if (live.length >= MAX_DISCOUNTS_PER_CUSTOMER)
    throw new DomainError(
      'conflict',
      `Customer ${customerId} holds ${live.length} discounts, the most it can; end one first`,
    );
  const refused = redemptionProblem(coupon, coupon.times_redeemed, caller.now);
  if (refused) throw new DomainError('conflict', `Coupon ${coupon.id} cannot be redeemed: ${refused}`);
  const at = caller.now.toISOString();
  const discount: CustomerDiscount = {
    id: `di_${randomUUID().replaceAll('-', '')}`,
    customer_id: customerId,
    subscription_id: input.subscription_id ?? null,
    coupon: {
      id: coupon.id,
      name: coupon.name,
      percent_off: coupon.percent_off,
      amount_off: coupon.amount_off,
      currency: coupon.currency,
      duration: coupon.duration,
      duration_in_periods: coupon.duration_in_periods,
      max_redemptions: coupon.max_redemptions,
      redeem_by: coupon.redeem_by,
    },
    discounted_periods: [],
    ended_at: null,
    created_at: at,
    updated_at: at,
    version: 1,
  };
  const outcome = await repository.redeem(
    discount,
    auditBy(caller, 'customer', customerId, 'customer.coupon_redeemed', null, discount),
    idempotency?.record(discount),
  );
  if (outcome.redeemed) return discount;
  switch (outcome.reason) {
    case 'idempotency-key-taken':
      throw new IdempotencyKeyTaken();
    case 'no-such-customer':
      throw notFound('Customer', customerId);
    case 'coupon-unavailable':
      throw new DomainError(
        'conflict',
        `Coupon ${coupon.id} cannot be redeemed: it was archived, or its last redemption was just taken`,
      );
    case 'already-held':
      throw new DomainError(
        'conflict',
        `Customer ${customerId} already holds coupon ${coupon.id}; end that discount first`,
      );
  }
}

/** A customer's discounts, oldest first; a tenant reads its own. */
export async function listDiscounts(
  tableName: string,
  customerId: string,
  principal: Principal,
): Promise<{ data: CustomerDiscount[] }> {
  if (!canAccessCustomer(principal, customerId)) throw notFound('Customer', customerId);
  return { data: await new DiscountsRepository(tableName).discountsOf(customerId) };
}

/** Ends a discount: no invoice finalized from now takes it (those finalized keep theirs). */
export async function endDiscount(
  tableName: string,
  customerId: string,
  discountId: string,
  caller: Caller,
): Promise<CustomerDiscount> {
  requireOperator(caller.principal, 'end discounts');
  const repository = new DiscountsRepository(tableName);
  return retryOnLostRace(
    5,
    async () => {
      const before = await repository.discount(customerId, discountId);
      if (!before) throw notFound('Discount', discountId);
      if (before.ended_at !== null) return before;
      const after: CustomerDiscount = {
        ...before,
        ended_at: caller.now.toISOString(),
        updated_at: caller.now.toISOString(),
        version: before.version + 1,
      };
      const ended = await repository.end(
        before,
        after,
        auditBy(caller, 'customer', customerId, 'customer.discount_ended', before, after),
      );
      return ended ? after : LOST_RACE;
    },
    () => {
      throw changingConcurrently(`Discount ${discountId}`);
    },
  );
}
