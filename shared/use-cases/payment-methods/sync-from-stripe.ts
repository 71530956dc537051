import type Stripe from 'stripe';
import { detached, withDefault, withStripeState } from '../../domain/payment-method.ts';
import type { Caller } from '../../domain/principal.ts';
import { logger } from '../../logger.ts';
import { methodState, stripeGateway } from '../../payments/stripe-gateway.ts';
import { auditBy } from '../../store/audit.ts';
import { CustomersRepository } from '../../store/customers-repository.ts';
import { PaymentMethodsRepository } from '../../store/payment-methods-repository.ts';
import { changePaymentMethods } from './payment-methods.ts';

/** The Stripe events that keep the stored payment methods in step with Stripe. */
export const PAYMENT_METHOD_EVENTS = new Set([
  'payment_method.attached',
  'payment_method.updated',
  'payment_method.automatically_updated',
  'payment_method.detached',
  'customer.updated',
]);

/**
 * One such event applied to the stored state, ordered by its `created` (see
 * shared/domain/payment-method.ts): an event older than the state held changes nothing, so
 * redeliveries and reorderings settle to what Stripe holds. Methods attached outside this API (the
 * Dashboard, Checkout) are found by the customer's metadata at Stripe.
 */
export async function applyPaymentMethodEvent(
  tableName: string,
  event: Stripe.Event,
  caller: Caller,
): Promise<'processed' | 'ignored'> {
  const at = event.created;
  if (event.type === 'customer.updated') {
    const stripeCustomer = event.data.object;
    const customerId = stripeCustomer.metadata?.billing_customer_id;
    const customer = customerId ? await new CustomersRepository(tableName).get(customerId, true) : undefined;
    if (!customer || customer.stripe_customer_id !== stripeCustomer.id) return ignored(event, 'customer');
    const chosen = stripeCustomer.invoice_settings?.default_payment_method ?? null;
    const defaultId = typeof chosen === 'string' || chosen === null ? chosen : chosen.id;
    await changePaymentMethods(
      tableName,
      customer.id,
      undefined,
      caller.now,
      undefined,
      (_method, current) => {
        const next = withDefault(current, customer.id, defaultId, at);
        return {
          default: next && { next, before: current },
          shown: undefined,
          audit: (before, after) =>
            auditBy(caller, 'customer', customer.id, 'customer.default_payment_method_synced', before, after),
        };
      },
    );
    return 'processed';
  }

  const object = event.data.object as Stripe.PaymentMethod;
  const stored = await new PaymentMethodsRepository(tableName).get(object.id);
  if (event.type === 'payment_method.detached') {
    // A method attached outside this API may be reported detached before its attachment arrives:
    // it is then stored detached (its customer is the one it had), so the late attachment is ignored.
    const previous = (event.data.previous_attributes as { customer?: string | null } | undefined)?.customer;
    const customerId = stored?.customer_id ?? (await billingCustomerOf(previous ?? null));
    if (!customerId) return ignored(event, 'payment method');
    await changePaymentMethods(tableName, customerId, object.id, caller.now, undefined, (fresh, current) => {
      const known = fresh ?? withStripeState(undefined, customerId, methodState(object), at, caller.now)!;
      const next = detached(known, at, caller.now);
      const nextDefault =
        current?.payment_method_id === object.id ? withDefault(current, customerId, null, at) : undefined;
      return {
        method: next && { next, before: fresh },
        default: nextDefault && { next: nextDefault, before: current },
        shown: next ?? known,
        audit: (before, after) =>
          auditBy(caller, 'customer', customerId, 'customer.payment_method_detached', before, after),
      };
    });
    return 'processed';
  }
  if (!PAYMENT_METHOD_EVENTS.has(event.type)) return 'ignored';

  const customerId = stored?.customer_id ?? (await billingCustomerOf(object.customer));
  if (!customerId) return ignored(event, 'payment method');
  await changePaymentMethods(tableName, customerId, object.id, caller.now, undefined, (fresh) => {
    const next = withStripeState(fresh, customerId, methodState(object), at, caller.now);
    return {
      method: next && { next, before: fresh },
      shown: next ?? fresh ?? stored!,
      audit: (before, after) =>
        auditBy(caller, 'customer', customerId, 'customer.payment_method_synced', before, after),
    };
  });
  return 'processed';
}

/** Our customer behind a Stripe customer, from the metadata set when it was mirrored. */
async function billingCustomerOf(
  stripeCustomer: string | Stripe.Customer | null,
): Promise<string | undefined> {
  if (!stripeCustomer) return undefined;
  if (typeof stripeCustomer !== 'string') return stripeCustomer.metadata?.billing_customer_id || undefined;
  const gateway = await stripeGateway();
  return gateway ? gateway.billingCustomerIdOf(stripeCustomer) : undefined;
}

function ignored(event: Stripe.Event, what: string): 'ignored' {
  logger.warn(`A Stripe ${event.type} event names no ${what} of ours; ignored`, { event_id: event.id });
  return 'ignored';
}
