import { beforeAll, describe, expect, it } from 'vitest';
import {
  hostedLinkHash,
  newHostedLink,
  newHostedLinkToken,
  wasRevoked,
} from '../../shared/domain/hosted-link.ts';
import { actorOf } from '../../shared/domain/principal.ts';
import { auditDraft } from '../../shared/store/audit.ts';
import { HostedLinksRepository } from '../../shared/store/hosted-links-repository.ts';
import { operator } from '../support/fixtures.ts';
import { useTestStore } from '../support/store.ts';

/**
 * Revocation of hosted links on DynamoDB Local, with the moments chosen by hand: a revocation's moment
 * only moves forward, and a link is never created under a revocation at or after its own moment.
 */
let links: HostedLinksRepository;
beforeAll(async () => {
  const { tables } = await useTestStore();
  links = new HostedLinksRepository(tables.billing);
});

const by = actorOf(operator());
const audit = (action: string, at: string) => auditDraft(by, at, 'invoice', 'in_x', action, null, { at });
const linkAt = (invoiceId: string, at: string) => {
  const hash = hostedLinkHash(newHostedLinkToken());
  return { hash, link: newHostedLink(hash, { id: invoiceId, customer_id: 'c' }, 30, by, new Date(at)) };
};

describe('hosted link revocation', () => {
  it('never moves back: a revoke stamped before the stored one changes nothing and answers the stored moment', async () => {
    const later = '2026-12-03T10:00:05.000Z';
    expect(await links.revokeAll('in_back', later, audit('revoke', later))).toBe(later);
    const earlier = '2026-12-03T10:00:01.000Z';
    expect(await links.revokeAll('in_back', earlier, audit('revoke', earlier))).toBe(later);
    expect(await links.revokedAt('in_back')).toBe(later);
    // A link made between the two moments stays revoked.
    expect(
      wasRevoked(linkAt('in_back', '2026-12-03T10:00:03.000Z').link, await links.revokedAt('in_back')),
    ).toBe(true);
    // A revoke at the same moment is covered by the stored one.
    expect(await links.revokeAll('in_back', later, audit('revoke', later))).toBe(later);
  });

  it('creates no link under a revocation at or after its moment; a link made after it is created', async () => {
    const revoked = '2026-12-03T11:00:00.000Z';
    await links.revokeAll('in_create', revoked, audit('revoke', revoked));
    for (const at of ['2026-12-03T10:59:59.999Z', revoked]) {
      const { hash, link } = linkAt('in_create', at);
      expect(await links.create(hash, link, audit('create', at)), at).toBe('revoked');
      expect(await links.get(hash)).toBeUndefined();
    }
    const { hash, link } = linkAt('in_create', '2026-12-03T11:00:00.001Z');
    expect(await links.create(hash, link, audit('create', link.created_at))).toBe('created');
    expect(await links.get(hash)).toEqual(link);
  });

  it('creates links of an invoice never revoked', async () => {
    const { hash, link } = linkAt('in_fresh', '2026-12-03T12:00:00.000Z');
    expect(await links.create(hash, link, audit('create', link.created_at))).toBe('created');
    expect((await links.get(hash))?.expires_at).toBe('2027-01-02T12:00:00.000Z');
  });
});
