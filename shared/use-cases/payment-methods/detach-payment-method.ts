import { DomainError } from '../../domain/errors.ts';
import { detached, type PaymentMethodView, withDefault } from '../../domain/payment-method.ts';
import type { Caller } from '../../domain/principal.ts';
import { stripeGateway } from '../../payments/stripe-gateway.ts';
import { auditBy } from '../../store/audit.ts';
import { changePaymentMethods, methodOf } from './payment-methods.ts';

/**
 * DELETE /customers/{id}/payment-methods/{pm_id}: detached for good, at Stripe first (which also
 * clears it as Stripe's default), then here, where detaching the default leaves no default. Detaching
 * a detached method answers it as it is, so a retry is harmless.
 */
export async function detachPaymentMethod(
  tableName: string,
  customerId: string,
  paymentMethodId: string,
  caller: Caller,
): Promise<PaymentMethodView> {
  const method = await methodOf(tableName, customerId, paymentMethodId, caller.principal);
  if (method.status === 'attached' && method.source === 'stripe') {
    const gateway = await stripeGateway();
    if (!gateway) {
      throw new DomainError(
        'service-unavailable',
        `Payment method ${paymentMethodId} is attached at Stripe, which is not configured here`,
      );
    }
    await gateway.detachPaymentMethod(paymentMethodId);
  }
  // Our own write: no Stripe time (see shared/domain/payment-method.ts); Stripe's event for it follows.
  const at = null;
  return changePaymentMethods(
    tableName,
    customerId,
    paymentMethodId,
    caller.now,
    undefined,
    (fresh, current) => {
      const next = fresh && detached(fresh, at, caller.now);
      const wasDefault = current?.payment_method_id === paymentMethodId;
      const nextDefault = wasDefault ? withDefault(current, customerId, null, at) : undefined;
      return {
        method: next && { next, before: fresh },
        default: nextDefault && { next: nextDefault, before: current },
        shown: next ?? fresh ?? method,
        audit: (before, after) =>
          auditBy(caller, 'customer', customerId, 'customer.payment_method_detached', before, after),
      };
    },
  );
}
