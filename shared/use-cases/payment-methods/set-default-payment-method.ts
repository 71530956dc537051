import { DomainError } from '../../domain/errors.ts';
import { type PaymentMethodView, refuseToCharge, withDefault } from '../../domain/payment-method.ts';
import type { Caller } from '../../domain/principal.ts';
import { stripeGateway } from '../../payments/stripe-gateway.ts';
import { auditBy } from '../../store/audit.ts';
import type { Idempotency } from '../../store/idempotency.ts';
import { stripeCustomerIdOf } from '../customers.ts';
import { changePaymentMethods, methodOf } from './payment-methods.ts';

/**
 * POST /customers/{id}/payment-methods/{pm_id}/default: what pay charges when it names no method.
 * Only an attached, unexpired method of the customer can be the default (an expired card would only
 * make the next charge fail). Stripe's invoice default is set first, then ours.
 */
export async function setDefaultPaymentMethod(
  tableName: string,
  customerId: string,
  paymentMethodId: string,
  caller: Caller,
  idempotency: Idempotency = undefined,
): Promise<PaymentMethodView> {
  const method = await methodOf(tableName, customerId, paymentMethodId, caller.principal);
  const refusal = refuseToCharge(method, customerId, caller.now, 'pm_id', paymentMethodId);
  if (refusal) throw refusal;
  if (method.source === 'stripe') {
    const gateway = await stripeGateway();
    if (!gateway) {
      throw new DomainError(
        'service-unavailable',
        `Payment method ${paymentMethodId} is attached at Stripe, which is not configured here`,
      );
    }
    const stripeCustomerId = await stripeCustomerIdOf(tableName, customerId, gateway, caller);
    await gateway.setDefaultPaymentMethod(stripeCustomerId, paymentMethodId);
  }
  // Our own write: no Stripe time (see shared/domain/payment-method.ts); Stripe's event for it follows.
  const at = null;
  return changePaymentMethods(
    tableName,
    customerId,
    paymentMethodId,
    caller.now,
    idempotency,
    (fresh, current) => {
      if (!fresh || fresh.status === 'detached') {
        throw new DomainError('conflict', `Payment method ${paymentMethodId} was detached meanwhile`);
      }
      const next = withDefault(current, customerId, paymentMethodId, at);
      return {
        default: next && { next, before: current },
        shown: fresh,
        audit: (before, after) =>
          auditBy(caller, 'customer', customerId, 'customer.default_payment_method_set', before, after),
      };
    },
  );
}
