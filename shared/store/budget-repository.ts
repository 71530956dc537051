import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type BudgetProjection, emptyProjection, ledgerId, type SpendLedger } from '../domain/budget.ts';
import { batchGetAll } from './batch-get.ts';
import { dynamo } from './client.ts';
import { withoutKeys } from './items.ts';
import { budgetProjectionKey, spendLedgerKey } from './keys.ts';
import { type TransactItem, transactWrite } from './transact.ts';

/**
 * The budget projection and its spend ledgers (shared/domain/budget.ts), beside the subscription
 * in the billing table. The projection's stream record is what publishes `budget.updated`; ledgers
 * map to no event, and expire two months after their period ends (late usage is accepted 45 days).
 */
const LEDGER_KEPT_AFTER_PERIOD_S = 60 * 86_400;

export class BudgetRepository {
  constructor(private readonly tableName: string) {}

  /** The projection (empty if none yet) and the ledgers named that exist, in one consistent read. */
  async read(
    subscriptionId: string,
    ledgerIds: readonly string[],
    now: string,
  ): Promise<{ projection: BudgetProjection; ledgers: Map<string, SpendLedger> }> {
    const items = await batchGetAll(this.tableName, [
      budgetProjectionKey(subscriptionId),
      ...ledgerIds.map((id) => spendLedgerKey(subscriptionId, id)),
    ]);
    let projection = emptyProjection(subscriptionId, now);
    const ledgers = new Map<string, SpendLedger>();
    for (const item of items) {
      if (item.item_type === 'budget') projection = withoutKeys<BudgetProjection>(item);
      else if (item.item_type === 'spend_ledger') {
        const ledger = withoutKeys<SpendLedger>(item);
        ledgers.set(ledgerId(ledger.period_start, ledger.metric, ledger.price.id), ledger);
      }
    }
    return { projection, ledgers };
  }

  async get(subscriptionId: string): Promise<BudgetProjection | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({
        TableName: this.tableName,
        Key: budgetProjectionKey(subscriptionId),
        ConsistentRead: true,
      }),
    );
    return Item ? withoutKeys<BudgetProjection>(Item) : undefined;
  }

  /**
   * Writes the projection and its changed ledgers together, only over the sequence read (one
   * writer per subscription is the design; this makes a second one lose instead of corrupt).
   * False when another write got there first: read again and re-apply.
   */
  async write(
    previousSequence: number,
    projection: BudgetProjection,
    ledgers: readonly SpendLedger[],
  ): Promise<boolean> {
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: { ...budgetProjectionKey(projection.subscription_id), item_type: 'budget', ...projection },
          ConditionExpression: previousSequence === 0 ? 'attribute_not_exists(PK)' : '#sequence = :previous',
          ...(previousSequence === 0
            ? {}
            : {
                ExpressionAttributeNames: { '#sequence': 'sequence' },
                ExpressionAttributeValues: { ':previous': previousSequence },
              }),
        },
      },
      ...ledgers.map(
        (ledger): TransactItem => ({
          Put: {
            TableName: this.tableName,
            Item: {
              ...spendLedgerKey(
                projection.subscription_id,
                ledgerId(ledger.period_start, ledger.metric, ledger.price.id),
              ),
              item_type: 'spend_ledger',
              subscription_id: projection.subscription_id,
              ...ledger,
              expires_at: Math.floor(Date.parse(ledger.period_end) / 1000) + LEDGER_KEPT_AFTER_PERIOD_S,
            },
          },
        }),
      ),
    ];
    const outcome = await transactWrite(items);
    return outcome.ok;
  }
}
