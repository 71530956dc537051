import { type AttributeValue, ExecuteStatementCommand } from '@aws-sdk/client-dynamodb';
import { dynamoRaw } from './client.ts';

/**
 * The most partition keys one PartiQL `IN` list may hold (DynamoDB's limit on IN values). A SELECT
 * whose WHERE pins the partition key with `=` or `IN` reads just those partitions, as a Query of each
 * would, in one statement; without it, it would scan the table (which the stack's IAM policy denies).
 */
export const MAX_PARTITIONS_PER_SELECT = 50;

/**
 * Every item of the partitions `partitionKeys` whose sort key begins with `sortKeyPrefix`, read
 * consistently by one ExecuteStatement and its next pages: the items 'PK = :pk AND
 * begins_with(SK, :prefix)' queried on each partition would return, for the same read units. DynamoDB
 * returns an IN list's results in pages of up to 10 items, so n items take ceil(n / 10) requests in
 * turn, where a Query per partition takes one request each, in parallel: fewer requests (and less of
 * the Lambda's CPU), and more round trips in turn once the partitions hold more than 10 items.
 * Items are raw (numbers stay exact decimal strings); their order is not defined.
 */
export async function selectFromPartitions(
  tableName: string,
  partitionKeys: readonly string[],
  sortKeyPrefix: string,
): Promise<Record<string, AttributeValue>[]> {
  if (partitionKeys.length === 0) return [];
  if (partitionKeys.length > MAX_PARTITIONS_PER_SELECT) {
    throw new RangeError(
      `at most ${MAX_PARTITIONS_PER_SELECT} partitions per select, got ${partitionKeys.length}`,
    );
  }
  const statement =
    `SELECT * FROM "${tableName}" WHERE PK IN [${partitionKeys.map(() => '?').join(', ')}] ` +
    'AND begins_with(SK, ?)';
  const parameters: AttributeValue[] = [...partitionKeys.map((key) => ({ S: key })), { S: sortKeyPrefix }];
  const items: Record<string, AttributeValue>[] = [];
  let nextToken: string | undefined;
  do {
    const page = await dynamoRaw().send(
      new ExecuteStatementCommand({
        Statement: statement,
        Parameters: parameters,
        ConsistentRead: true,
        NextToken: nextToken,
      }),
    );
    items.push(...(page.Items ?? []));
    // A page cut at 1 MB may come back with a LastEvaluatedKey, which ExecuteStatement cannot resume
    // from: a total summed over what was read would be short, so the read fails instead.
    if (page.LastEvaluatedKey && !page.NextToken) {
      throw new Error(`The select on ${tableName} stopped at a LastEvaluatedKey without a NextToken`);
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return items;
}
