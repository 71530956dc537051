import { notFound } from '../../domain/errors.ts';
import {
  type DefaultPaymentMethod,
  type PaymentMethod,
  type PaymentMethodView,
  viewOf,
} from '../../domain/payment-method.ts';
import { type Caller, canAccessCustomer, type Principal } from '../../domain/principal.ts';
import type { AuditDraft } from '../../store/audit.ts';
import { CustomersRepository } from '../../store/customers-repository.ts';
import {
  type Idempotency,
  IdempotencyKeyTaken,
  idempotencyItems,
  keepAnswer,
} from '../../store/idempotency.ts';
import type { Page } from '../../store/pagination.ts';
import { PaymentMethodsRepository } from '../../store/payment-methods-repository.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from '../optimistic.ts';

/**
 * Reading a customer's payment methods, and the one write loop every change to them goes through
 * (attach, set default, detach, and the Stripe webhooks). A tenant sees only its own customer's:
 * another customer's methods, like the customer itself, do not exist for it (404).
 */

/** The customer's id once the caller may act for it and it exists; 404 otherwise. */
export async function ownCustomer(tableName: string, customerId: string, principal: Principal) {
  if (!canAccessCustomer(principal, customerId)) throw notFound('Customer', customerId);
  const customer = await new CustomersRepository(tableName).get(customerId, true);
  if (!customer) throw notFound('Customer', customerId);
  return customer;
}

/** The method if it is this customer's and the caller may see it; otherwise it does not exist. */
export async function methodOf(
  tableName: string,
  customerId: string,
  paymentMethodId: string,
  principal: Principal,
): Promise<PaymentMethod> {
  const method = canAccessCustomer(principal, customerId)
    ? await new PaymentMethodsRepository(tableName).get(paymentMethodId)
    : undefined;
  if (!method || method.customer_id !== customerId) throw notFound('Payment method', paymentMethodId);
  return method;
}

export async function getPaymentMethod(
  tableName: string,
  customerId: string,
  paymentMethodId: string,
  caller: Caller,
): Promise<PaymentMethodView> {
  const method = await methodOf(tableName, customerId, paymentMethodId, caller.principal);
  const current = await new PaymentMethodsRepository(tableName).defaultOf(customerId);
  return viewOf(method, current?.payment_method_id ?? null, caller.now);
}

export async function listPaymentMethods(
  tableName: string,
  customerId: string,
  query: { limit: number; cursor?: string | undefined },
  caller: Caller,
): Promise<Page<PaymentMethodView>> {
  await ownCustomer(tableName, customerId, caller.principal);
  const repository = new PaymentMethodsRepository(tableName);
  const [page, current] = await Promise.all([
    repository.listAttached(customerId, query.limit, query.cursor),
    repository.defaultOf(customerId),
  ]);
  const defaultId = current?.payment_method_id ?? null;
  return { ...page, data: page.data.map((method) => viewOf(method, defaultId, caller.now)) };
}

/** What one change decides from a fresh read of the method (if any) and the customer's default. */
export type MethodDecision<S extends PaymentMethod | undefined> = {
  method?: { next: PaymentMethod; before: PaymentMethod | undefined } | undefined;
  default?: { next: DefaultPaymentMethod; before: DefaultPaymentMethod | undefined } | undefined;
  /** The method the answer shows (the new state, or the unchanged one); none for a webhook's change of default. */
  shown: S;
  audit: (before: unknown, after: unknown) => AuditDraft;
};

/**
 * Reads the method and the default, lets `decide` work out the change, and writes it conditionally
 * on what was read (with the audit entry and idempotency record), again on a fresh read when another
 * writer got there first. A decision that changes nothing writes only the idempotency record.
 */
export async function changePaymentMethods<S extends PaymentMethod | undefined>(
  tableName: string,
  customerId: string,
  paymentMethodId: string | undefined,
  now: Date,
  idempotency: Idempotency,
  decide: (
    method: PaymentMethod | undefined,
    current: DefaultPaymentMethod | undefined,
  ) => MethodDecision<S> | Promise<MethodDecision<S>>,
): Promise<S extends PaymentMethod ? PaymentMethodView : undefined> {
  type Answer = S extends PaymentMethod ? PaymentMethodView : undefined;
  const repository = new PaymentMethodsRepository(tableName);
  return retryOnLostRace(
    5,
    async () => {
      const [method, current] = await Promise.all([
        paymentMethodId === undefined ? undefined : repository.get(paymentMethodId),
        repository.defaultOf(customerId),
      ]);
      const decision = await decide(method, current);
      const defaultId = (decision.default?.next ?? current)?.payment_method_id ?? null;
      const view = (decision.shown && viewOf(decision.shown, defaultId, now)) as Answer;
      const answer = idempotencyItems(tableName, idempotency, view);
      if (!decision.method && !decision.default) {
        await keepAnswer(answer);
        return view;
      }
      const outcome = await repository.save({
        method: decision.method && {
          next: decision.method.next,
          expectedVersion: decision.method.before?.version ?? null,
        },
        default: decision.default && {
          next: decision.default.next,
          expectedVersion: decision.default.before?.version ?? null,
        },
        audit: decision.audit(
          { payment_method: decision.method?.before ?? method ?? null, default: current ?? null },
          {
            payment_method: decision.method?.next ?? method ?? null,
            default: decision.default?.next ?? current ?? null,
          },
        ),
        idempotency: answer,
      });
      if (outcome === 'idempotency-key-taken') throw new IdempotencyKeyTaken();
      return outcome === 'saved' ? view : LOST_RACE;
    },
    (): Answer => {
      throw changingConcurrently(`The payment methods of customer ${customerId}`);
    },
  );
}
