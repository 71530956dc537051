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
  wasRevoked,
} from '../../domain/hosted-link.ts';
import type { Invoice } from '../../domain/invoice.ts';
import { actorOf, type Caller } from '../../domain/principal.ts';
import { auditBy } from '../../store/audit.ts';
import { CustomersRepository } from '../../store/customers-repository.ts';
import { HostedLinksRepository } from '../../store/hosted-links-repository.ts';
import { InvoicesRepository } from '../../store/invoices-repository.ts';
import { invoiceFor } from '../invoicing/invoices.ts';

export type HostedLinkAnswer = {
  id: string;
  invoice_id: string;
  url: string;
  pdf_url: string;
  expires_at: string;
};

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
  const token = newHostedLinkToken();
  const tokenHash = hostedLinkHash(token);
  const link = newHostedLink(
    tokenHash,
    invoice,
    body.expires_in_days ?? HOSTED_LINK_DAYS.default,
    actorOf(caller.principal),
    caller.now,
  );
  const created = await new HostedLinksRepository(tableName).create(
    tokenHash,
    link,
    auditBy(caller, 'invoice', invoice.id, 'hosted_link_created', null, {
      link_id: link.id,
      expires_at: link.expires_at,
    }),
  );
  if (created === 'revoked') {
    throw new DomainError(
      'conflict',
      `The hosted links of invoice ${invoice.id} were revoked at this same moment: send the request again for a link that works`,
    );
  }
  const url = `${origin}${HOSTED_INVOICE_PATH}/${token}`;
  return { id: link.id, invoice_id: invoice.id, url, pdf_url: `${url}/pdf`, expires_at: link.expires_at };
}

/**
 * DELETE /invoices/{id}/hosted-links: every link of the invoice made until now stops working (410);
 * links made afterwards work. For a link sent to the wrong person, or one that leaked.
 */
export async function revokeHostedLinks(
  tableName: string,
  invoiceId: string,
  caller: Caller,
): Promise<{ invoice_id: string; revoked_at: string }> {
  const invoice = await invoiceFor(tableName, invoiceId, caller.principal);
  const at = caller.now.toISOString();
  const revokedAt = await new HostedLinksRepository(tableName).revokeAll(
    invoice.id,
    at,
    auditBy(caller, 'invoice', invoice.id, 'hosted_links_revoked', null, { revoked_at: at }),
  );
  return { invoice_id: invoice.id, revoked_at: revokedAt };
}

export const HOSTED_INVOICE_PATH = '/hosted/invoices';

export type HostedInvoice = { invoice: Invoice; customer: Customer; link: HostedLink };

/**
 * What a hosted link opens, read for someone with no token: the invoice and its customer. An unknown
 * or malformed token is `not-found`, an expired one `gone`; neither says which invoice it was for.
 */
export async function hostedInvoice(tableName: string, token: string, now: Date): Promise<HostedInvoice> {
  const links = new HostedLinksRepository(tableName);
  const link = isHostedLinkToken(token) ? await links.get(hostedLinkHash(token)) : undefined;
  if (!link) throw unknownLink();
  if (hasExpired(link, now)) {
    throw new DomainError('gone', 'This invoice link has expired: ask the sender for a new one');
  }
  // Both keyed by the link's invoice: read together.
  const [revokedAt, invoice] = await Promise.all([
    links.revokedAt(link.invoice_id),
    new InvoicesRepository(tableName).get(link.invoice_id),
  ]);
  if (wasRevoked(link, revokedAt)) throw new LinkWithdrawn();
  const customer = invoice && (await new CustomersRepository(tableName).get(invoice.customer_id));
  if (!invoice || !customer) throw unknownLink();
  return { invoice, customer, link };
}

/** A link its sender revoked: gone, like an expired one, and told apart on the page a person sees. */
export class LinkWithdrawn extends DomainError {
  constructor() {
    super('gone', 'This invoice link was withdrawn by its sender: ask them for a new one');
  }
}

const unknownLink = () =>
  new DomainError('not-found', 'This invoice link does not exist: check that it was copied whole');
