import type { Customer } from '../../domain/customer.ts';
import { DomainError } from '../../domain/errors.ts';
import {
  HOSTED_LINK_DAYS,
  type HostedLink,
  hasExpired,
  hostedLinkHash,
  isHostedLinkToken,
  newHostedLink,
  newHostedLinkToken,
} from '../../domain/hosted-link.ts';
import type { Invoice } from '../../domain/invoice.ts';
import { actorOf, type Caller } from '../../domain/principal.ts';
import { auditBy } from '../../store/audit.ts';
import { CustomersRepository } from '../../store/customers-repository.ts';
import { HostedLinksRepository } from '../../store/hosted-links-repository.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { invoiceFor } from '../invoicing/invoices.ts';

export type HostedLinkAnswer = { invoice_id: string; url: string; pdf_url: string; expires_at: string };

/**
 * POST /invoices/{id}/hosted-links: a new link to the invoice's hosted page, for the caller to send
 * to the customer. Each call makes a new link (the token is shown once, here, and stored only as its
 * hash, so it is never replayed from an idempotency record); a draft has no page yet.
 */
export async function createHostedLink(
  tableName: string,
  invoiceId: string,
  body: { expires_in_days?: number | undefined },
  caller: Caller,
  /** Where the API is reached (`https://<host>`), which the link starts with. */
  origin: string,
): Promise<HostedLinkAnswer> {
  const invoice = await invoiceFor(tableName, invoiceId, caller.principal);
  if (invoice.status === 'draft') {
    throw new DomainError(
      'invalid-state-transition',
      `Invoice ${invoice.id} is a draft: finalize it before sharing it (POST /api/v1/invoices/${invoice.id}/finalize)`,
    );
  }
  const link = newHostedLink(
    invoice,
    body.expires_in_days ?? HOSTED_LINK_DAYS.default,
    actorOf(caller.principal),
    caller.now,
  );
  const token = newHostedLinkToken();
  await new HostedLinksRepository(tableName).create(
    hostedLinkHash(token),
    link,
    auditBy(caller, 'invoice', invoice.id, 'hosted_link_created', null, {
      expires_at: link.expires_at,
    }),
  );
  const url = `${origin}${HOSTED_INVOICE_PATH}/${token}`;
  return { invoice_id: invoice.id, url, pdf_url: `${url}/pdf`, expires_at: link.expires_at };
}

export const HOSTED_INVOICE_PATH = '/hosted/invoices';

export type HostedInvoice = { invoice: Invoice; customer: Customer; link: HostedLink };

/**
 * What a hosted link opens, read for someone with no token: the invoice and its customer. An unknown
 * or malformed token is `not-found`, an expired one `gone`; neither says which invoice it was for.
 */
export async function hostedInvoice(tableName: string, token: string, now: Date): Promise<HostedInvoice> {
  const link = isHostedLinkToken(token)
    ? await new HostedLinksRepository(tableName).get(hostedLinkHash(token))
    : undefined;
  if (!link) throw unknownLink();
  if (hasExpired(link, now)) {
    throw new DomainError('gone', 'This invoice link has expired: ask the sender for a new one');
  }
  const invoice = await new InvoicesRepository(tableName).get(link.invoice_id);
  const customer = invoice && (await new CustomersRepository(tableName).get(invoice.customer_id));
  if (!invoice || !customer) throw unknownLink();
  return { invoice, customer, link };
}

const unknownLink = () =>
  new DomainError('not-found', 'This invoice link does not exist: check that it was copied whole');
