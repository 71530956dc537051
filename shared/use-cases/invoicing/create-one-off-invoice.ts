import { randomUUID } from 'node:crypto';
import { DomainError, validationError } from '../../domain/errors.ts';
import { type Invoice, invoiceIdFor } from '../../domain/invoice.ts';
import { oneOffInvoice } from '../../domain/one-off-invoice.ts';
import { oneTimeCharge, requireOneTimePrice } from '../../domain/one-time.ts';
import { type Caller, requireOperator } from '../../domain/principal.ts';
import type { CreateOneOffInvoiceRequest } from '../../schemas/invoice-items.ts';
import { auditBy } from '../../store/audit.ts';
import { CatalogRepository } from '../../store/catalog-repository.ts';
import { CustomersRepository } from '../../store/customers-repository.ts';
import {
  type Idempotency,
  IdempotencyKeyTaken,
  idempotencyItems,
  idempotentRequestName,
} from '../../store/idempotency.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { changingConcurrently, LOST_RACE, retryOnLostRace } from '../optimistic.ts';
import { numberedWithCredit, settleIfNothingDue } from './finalize-invoice.ts';

/**
 * A one-off invoice (`billing_reason: manual`, Stripe's invoice without a subscription): one-time
 * prices sold now, finalized at once like any invoice (numbered next in the customer's gapless
 * sequence, its credit balance applied, due in 7 days) and collected the same way (pay, the Stripe
 * webhook). It belongs to no subscription, closes no period and bills no usage.
 *
 * With an Idempotency-Key the invoice id is derived from the key, and the answer is kept in the
 * transaction that creates it (or in the payment that settles one with nothing due), so a retry
 * never bills twice, even one that follows a failure after the invoice was written.
 */
export async function createOneOffInvoice(
  tableName: string,
  input: CreateOneOffInvoiceRequest,
  caller: Caller,
  idempotency: Idempotency,
): Promise<Invoice> {
  requireOperator(caller.principal, 'create invoices');
  const catalog = new CatalogRepository(tableName);
  const [customer, prices] = await Promise.all([
    new CustomersRepository(tableName).get(input.customer_id, true),
    Promise.all(input.items.map((item) => catalog.getPrice(item.price_id))),
  ]);
  if (!customer) throw validationError([{ field: 'customer_id', message: 'no such customer' }]);
  const charges = input.items.map((item, i) =>
    oneTimeCharge(
      requireOneTimePrice(prices[i], input.currency, `items.${i}.price_id`),
      item.quantity,
      item.description,
      caller.now,
      `items.${i}.quantity`,
    ),
  );
  const answer = (body: Invoice) => idempotencyItems(tableName, idempotency, body);
  const request = idempotentRequestName(idempotency);
  // From the key and what it asks for: a key reused after its record expired (24 h) for another
  // purchase or customer makes another invoice, never answers with the old one.
  const id = request
    ? invoiceIdFor('manual', `${request}\n${JSON.stringify(input)}`)
    : `in_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
  const repository = new InvoicesRepository(tableName);
  return retryOnLostRace(
    5,
    async () => {
      const draft = oneOffInvoice(id, input.customer_id, input.currency, charges, caller.now);
      const { open, sequence, balanceItems } = await numberedWithCredit(
        tableName,
        draft,
        draft.lines,
        caller,
      );
      const outcome = await repository.createFinalized(
        open,
        sequence,
        [
          auditBy(caller, 'invoice', id, 'invoice.created', null, draft),
          auditBy(caller, 'invoice', id, 'invoice.finalized', draft, open),
        ],
        [...balanceItems, ...(open.amount_due > 0 ? answer(open) : [])],
      );
      if (outcome === 'idempotency-key-taken') throw new IdempotencyKeyTaken();
      if (outcome === 'lost-race') return LOST_RACE;
      if (outcome === 'created') return settleIfNothingDue(tableName, open, caller, answer);
      // Written by an earlier try of this very request (same key), whose settling did not happen.
      const existing = await repository.get(id);
      if (!existing || existing.customer_id !== input.customer_id || existing.billing_reason !== 'manual')
        throw new DomainError('conflict', `Invoice ${id} exists already; use a new Idempotency-Key`);
      return existing.status === 'open' ? settleIfNothingDue(tableName, existing, caller, answer) : existing;
    },
    () => {
      throw changingConcurrently(`The invoices of customer ${input.customer_id}`);
    },
  );
}
