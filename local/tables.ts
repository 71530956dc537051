import { type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/** Whole-table read for the local viewer routes (small tables only; never used in AWS). */
export async function scanTable(client: DynamoDBClient, tableName: string): Promise<{ items: unknown[] }> {
  const items: unknown[] = [];
  let start: Record<string, never> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []).map((item) => unmarshall(item, { wrapNumbers: exactNumber })));
    start = page.LastEvaluatedKey as typeof start;
  } while (start);
  return { items };
}

/**
 * Numbers as JavaScript numbers only where one holds them exactly; others (a usage line's digest
 * sums, past 2^53) stay decimal text, so the items can still be shown as JSON.
 */
export function exactNumber(text: string): number | string {
  const number = Number(text);
  return Number.isFinite(number) && String(number) === text ? number : text;
}
