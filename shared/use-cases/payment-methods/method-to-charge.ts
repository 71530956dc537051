import { DomainError } from '../../domain/errors.ts';
import { describe, isExpired, refuseToCharge } from '../../domain/payment-method.ts';
import { PaymentMethodsRepository } from '../../store/payment-methods-repository.ts';

/**
 * The stored payment method a pay should charge: the one it names (`payment_method_id`: one of the
 * customer's attached, unexpired methods, else a 422 naming it), or else the customer's default.
 * Undefined when it names none and no default is stored (then Stripe's own default is charged, as
 * for customers whose card was set at Stripe directly). An expired default is refused with what to do.
 */
export async function storedMethodToCharge(
  tableName: string,
  customerId: string,
  requested: string | undefined,
  now: Date,
): Promise<{ id: string; source: 'stripe' | 'offline' } | undefined> {
  const repository = new PaymentMethodsRepository(tableName);
  if (requested !== undefined) {
    const method = await repository.get(requested);
    const refusal = refuseToCharge(method, customerId, now, 'payment_method_id', requested);
    if (refusal) throw refusal;
    return method;
  }
  const chosen = (await repository.defaultOf(customerId))?.payment_method_id;
  const method = chosen ? await repository.get(chosen) : undefined;
  if (method?.status !== 'attached' || method.customer_id !== customerId) return undefined;
  if (isExpired(method.card, now)) {
    const message = `the default card ${describe(method)} of customer ${customerId} has expired, so Stripe would decline it: attach a new card and set it as default (POST /api/v1/customers/${customerId}/payment-methods with "set_default": true), or name another one in payment_method_id`;
    throw new DomainError('unprocessable', `payment_method_id: ${message}`, [
      { field: 'payment_method_id', message },
    ]);
  }
  return method;
}

/** In Stripe mode, a method described offline cannot be charged: only Stripe's own can. */
export function chargeableAtStripe(method: { id: string; source: 'stripe' | 'offline' }): string {
  if (method.source === 'stripe') return method.id;
  const message = `${method.id} was described while Stripe was not configured and is not attached at Stripe; attach the card through Stripe`;
  throw new DomainError('unprocessable', `payment_method_id: ${message}`, [
    { field: 'payment_method_id', message },
  ]);
}
