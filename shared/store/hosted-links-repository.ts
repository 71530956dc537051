import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { HostedLink } from '../domain/hosted-link.ts';
import { type AuditDraft, auditPut } from './audit.ts';
import { dynamo } from './client.ts';
import { withoutKeys } from './items.ts';
import { hostedLinkKey, hostedLinksRevokedKey, invoiceKey } from './keys.ts';
import { transactWrite } from './transact.ts';

const ITEM_TYPE = 'hosted_link';

/**
 * Hosted invoice links (shared/domain/hosted-link.ts), keyed by their token's hash. DynamoDB's TTL
 * (`expires_at`, epoch seconds) removes each some time after it expires; until then the use case
 * refuses it by its own `expires_at`.
 */
export class HostedLinksRepository {
  constructor(private readonly tableName: string) {}

  /**
   * The link and its audit entry on the invoice's trail, together; `revoked` when a revocation of the
   * invoice's links at or after the link's moment committed first (the link would be born dead).
   */
  async create(tokenHash: string, link: HostedLink, audit: AuditDraft): Promise<'created' | 'revoked'> {
    const outcome = await transactWrite([
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...hostedLinkKey(tokenHash),
            item_type: ITEM_TYPE,
            ...link,
            // The table's TTL attribute is epoch seconds; the link's own expiry stays ISO (`expires_at` is
            // overwritten here only in the item, and read back from `link_expires_at`).
            link_expires_at: link.expires_at,
            expires_at: Math.floor(Date.parse(link.expires_at) / 1000),
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      auditPut(this.tableName, invoiceKey(link.invoice_id), audit),
      {
        ConditionCheck: {
          TableName: this.tableName,
          Key: hostedLinksRevokedKey(link.invoice_id),
          ConditionExpression: 'attribute_not_exists(PK) OR revoked_at < :created',
          ExpressionAttributeValues: { ':created': link.created_at },
        },
      },
    ]);
    if (outcome.ok) return 'created';
    if (outcome.failedConditions.includes(2)) return 'revoked';
    throw new Error('A hosted link token was drawn twice (256 random bits): refusing it');
  }

  /**
   * Ends every link of the invoice made until `at` (links made later work), with its audit entry. The
   * moment only moves forward: when a revocation at or after `at` is stored already (two revokes that
   * overlap), it covers this one, nothing is written, and the stored moment is the answer.
   */
  async revokeAll(invoiceId: string, at: string, audit: AuditDraft): Promise<string> {
    const outcome = await transactWrite([
      {
        Put: {
          TableName: this.tableName,
          Item: { ...hostedLinksRevokedKey(invoiceId), item_type: 'hosted_links_revoked', revoked_at: at },
          ConditionExpression: 'attribute_not_exists(PK) OR revoked_at < :at',
          ExpressionAttributeValues: { ':at': at },
        },
      },
      auditPut(this.tableName, invoiceKey(invoiceId), audit),
    ]);
    if (outcome.ok) return at;
    const stored = await this.revokedAt(invoiceId);
    if (outcome.failedConditions.includes(0) && stored !== undefined && stored >= at) return stored;
    throw new Error(`Revoking the hosted links of ${invoiceId} failed a condition`);
  }

  /** When the invoice's links were last revoked, if ever. */
  async revokedAt(invoiceId: string): Promise<string | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({
        TableName: this.tableName,
        Key: hostedLinksRevokedKey(invoiceId),
        ConsistentRead: true,
      }),
    );
    return Item?.revoked_at as string | undefined;
  }

  async get(tokenHash: string): Promise<HostedLink | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: hostedLinkKey(tokenHash), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { link_expires_at, expires_at: _ttl, ...rest } = withoutKeys<Record<string, unknown>>(Item);
    return { ...(rest as Omit<HostedLink, 'expires_at'>), expires_at: link_expires_at as string };
  }
}
