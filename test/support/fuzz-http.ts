import { Agent, createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AttributeValue, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_AWS } from '../../local/dynamodb-local.ts';

/**
 * Plumbing for the hostile-input fuzz (test/e2e/fuzz.e2e.test.ts): a raw HTTP client that sends
 * exactly the bytes and path it is given (fetch would normalise `..`, refuse some headers and
 * re-encode the body), a recorder of every write the service makes to DynamoDB, and whole-table
 * snapshots of the billing table.
 */

export type RawRequest = {
  method: string;
  /** Sent as is on the request line: may hold `..`, `%00`, malformed escapes. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string | undefined;
};

export type RawResponse = { status: number; contentType: string; text: string; json: unknown };

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

export function sendRaw(baseUrl: string, request: RawRequest): Promise<RawResponse> {
  const { port } = new URL(baseUrl);
  const body =
    request.body === undefined
      ? undefined
      : Buffer.isBuffer(request.body)
        ? request.body
        : Buffer.from(request.body, 'utf8');
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: Number(port),
        method: request.method,
        path: request.path,
        agent,
        headers: { ...request.headers, 'content-length': String(body?.length ?? 0) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            text,
            json,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export function closeRawClient(): void {
  agent.destroy();
}

/** One call the service made to DynamoDB, as seen on the wire. */
export type DynamoCall = {
  operation: string;
  /** Tables the call writes to (empty for reads; `*` when it cannot be told, e.g. PartiQL). */
  writes: string[];
  status: number;
};

const WRITE_OPERATIONS = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
  'ExecuteStatement',
  'BatchExecuteStatement',
  'ExecuteTransaction',
]);

function tablesWritten(operation: string, input: Record<string, unknown>): string[] {
  if (!WRITE_OPERATIONS.has(operation)) return [];
  // A PartiQL SELECT (usage totals read every counter shard in one) writes nothing.
  if (operation === 'ExecuteStatement' && /^\s*select\b/i.test(String(input.Statement ?? ''))) return [];
  if (operation === 'BatchWriteItem') return Object.keys((input.RequestItems as object) ?? {});
  if (operation === 'TransactWriteItems') {
    return ((input.TransactItems as Record<string, { TableName?: string }>[]) ?? []).flatMap((item) =>
      ['Put', 'Update', 'Delete'].flatMap((kind) => (item[kind]?.TableName ? [item[kind].TableName] : [])),
    );
  }
  if (operation.includes('Statement') || operation === 'ExecuteTransaction') return ['*'];
  return typeof input.TableName === 'string' ? [input.TableName] : ['*'];
}

/**
 * A pass-through proxy in front of DynamoDB Local that records every operation and the tables it
 * writes. Point the service's handlers at it, and "did this request write anything?" has an exact,
 * cheap answer: a successful write call while only that request was in flight.
 */
export async function startDynamoRecorder(target: string) {
  const targetUrl = new URL(target);
  const calls: DynamoCall[] = [];
  const upstream = new Agent({ keepAlive: true });
  const readAll = (stream: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
      stream.on('error', reject);
    });
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      const operation = String(req.headers['x-amz-target'] ?? '').replace(/^DynamoDB_\d+\./, '');
      let input: Record<string, unknown> = {};
      try {
        input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        // not JSON: recorded without tables
      }
      const call: DynamoCall = { operation, writes: tablesWritten(operation, input), status: 0 };
      calls.push(call);
      const forward = httpRequest(
        {
          host: targetUrl.hostname,
          port: Number(targetUrl.port),
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: targetUrl.host },
          agent: upstream,
        },
        async (response) => {
          const answer = await readAll(response);
          call.status = response.statusCode ?? 0;
          res.writeHead(call.status, response.headers);
          res.end(answer);
        },
      );
      forward.on('error', (error) => {
        call.status = 599;
        res.writeHead(502);
        res.end(String(error));
      });
      forward.end(body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    /** Successful writes to `table` among the calls recorded since `mark` (an index into calls). */
    writesSince: (mark: number, table: string) =>
      calls
        .slice(mark)
        .filter((c) => c.status === 200 && (c.writes.includes(table) || c.writes.includes('*'))),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      upstream.destroy();
    },
  };
}

export type DynamoRecorder = Awaited<ReturnType<typeof startDynamoRecorder>>;

/** Key-order independent text of an item, exactly as stored (numbers stay decimal strings). */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(record[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export type TableSnapshot = Map<string, string>;

/** Every item of the table, by key, as canonical text: nothing ignored. */
export async function snapshotTable(client: DynamoDBClient, tableName: string): Promise<TableSnapshot> {
  const items = new Map<string, string>();
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    for (const item of page.Items ?? []) items.set(`${item.PK?.S}|${item.SK?.S}`, canonical(item));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** What changed between two snapshots (empty when they are equal). */
export function snapshotDiff(before: TableSnapshot, after: TableSnapshot): string[] {
  const changes: string[] = [];
  for (const [key, item] of after) {
    if (!before.has(key)) changes.push(`added ${key}`);
    else if (before.get(key) !== item) changes.push(`changed ${key}`);
  }
  for (const key of before.keys()) if (!after.has(key)) changes.push(`removed ${key}`);
  return changes;
}

export const snapshotClient = (endpoint: string): DynamoDBClient =>
  new DynamoDBClient({ ...LOCAL_AWS, endpoint });
