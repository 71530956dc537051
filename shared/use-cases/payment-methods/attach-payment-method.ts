import { randomBytes } from 'node:crypto';
import { DomainError, validationError } from '../../domain/errors.ts';
import {
  isExpired,
  type PaymentMethodView,
  type StripeMethodState,
  withDefault,
  withStripeState,
} from '../../domain/payment-method.ts';
import type { Caller } from '../../domain/principal.ts';
import { stripeGateway } from '../../payments/stripe-gateway.ts';
import type { AttachPaymentMethodRequest } from '../../schemas/payment-methods.ts';
import { auditBy } from '../../store/audit.ts';
import type { Idempotency } from '../../store/idempotency.ts';
import { stripeCustomerIdOf } from '../customers.ts';
import { changePaymentMethods, ownCustomer } from './payment-methods.ts';

/**
 * POST /customers/{id}/payment-methods. With Stripe configured, the PaymentMethod is attached to the
 * customer's Stripe customer (and made its invoice default with `set_default`) first, and what Stripe
 * answers is stored: Stripe is the record, we mirror it. Offline, the card the caller describes
 * (brand, last4, expiry: never its number) is stored, so the rest of the API can be exercised; nothing
 * can charge it. Retries are safe: attaching is idempotent at Stripe, and with an Idempotency-Key
 * the first answer is replayed.
 */
export async function attachPaymentMethod(
  tableName: string,
  customerId: string,
  body: AttachPaymentMethodRequest,
  caller: Caller,
  idempotency: Idempotency = undefined,
): Promise<PaymentMethodView> {
  await ownCustomer(tableName, customerId, caller.principal);
  const gateway = await stripeGateway();
  let state: StripeMethodState;
  if (gateway) {
    if (!body.payment_method) {
      throw validationError([
        {
          field: 'payment_method',
          message: 'is required: the pm_… id of a PaymentMethod created with Stripe',
        },
      ]);
    }
    if (body.card || body.type) {
      throw validationError([
        { field: body.card ? 'card' : 'type', message: 'comes from Stripe here; send only payment_method' },
      ]);
    }
    const stripeCustomerId = await stripeCustomerIdOf(tableName, customerId, gateway, caller);
    state = await gateway.attachPaymentMethod(body.payment_method, stripeCustomerId);
    // Stripe attached it (its webhook will list it here); an expired card is not made the default.
    if (body.set_default) refuseExpiredDefault(state.card, caller.now, 'it is attached, but not the default');
    if (body.set_default) await gateway.setDefaultPaymentMethod(stripeCustomerId, state.id);
  } else {
    if (body.payment_method) {
      throw new DomainError(
        'unprocessable',
        'Stripe is not configured here, so no Stripe PaymentMethod can be attached; describe the card with "type" and "card"',
        [
          {
            field: 'payment_method',
            message: 'needs Stripe configured; describe the card with type and card',
          },
        ],
      );
    }
    if (!body.card) {
      throw validationError([
        {
          field: 'card',
          message: 'is required while Stripe is not configured: brand, last4, exp_month, exp_year',
        },
      ]);
    }
    if (body.set_default) refuseExpiredDefault(body.card, caller.now, 'nothing was attached');
    state = {
      id: `pm_offline_${randomBytes(12).toString('hex')}`,
      type: body.type ?? 'card',
      card: body.card,
    };
  }
  // Our own write: no Stripe time (see shared/domain/payment-method.ts); Stripe's event for it follows.
  const at = null;
  return changePaymentMethods(tableName, customerId, state.id, caller.now, idempotency, (method, current) => {
    if (method && method.customer_id !== customerId) {
      // Stripe refuses this too (a method belongs to one customer); the other customer stays unnamed.
      throw new DomainError('unprocessable', `Payment method ${state.id} belongs to another customer`, [
        { field: 'payment_method', message: 'is attached to another customer' },
      ]);
    }
    if (method?.status === 'detached') {
      throw new DomainError('unprocessable', `Payment method ${state.id} was detached, which is permanent`, [
        { field: 'payment_method', message: 'was detached and cannot be attached again; attach a new one' },
      ]);
    }
    const next = withStripeState(method, customerId, state, at, caller.now, gateway ? 'stripe' : 'offline');
    const nextDefault = body.set_default ? withDefault(current, customerId, state.id, at) : undefined;
    return {
      method: next && { next, before: method },
      default: nextDefault && { next: nextDefault, before: current },
      shown: next ?? method!,
      audit: (before, after) =>
        auditBy(caller, 'customer', customerId, 'customer.payment_method_attached', before, after),
    };
  });
}

/** As POST …/{pm_id}/default refuses it: an expired card would only make the next charge fail. */
function refuseExpiredDefault(card: StripeMethodState['card'], now: Date, what: string): void {
  if (!card || !isExpired(card, now)) return;
  throw new DomainError(
    'unprocessable',
    `set_default: the card expired at the end of ${card.exp_month}/${card.exp_year}, so it cannot be the default (${what}); attach a valid card`,
    [{ field: 'set_default', message: `the card expired at the end of ${card.exp_month}/${card.exp_year}` }],
  );
}
