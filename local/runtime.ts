import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  EventBridgeEvent,
  ScheduledEvent,
  SQSBatchResponse,
} from 'aws-lambda';
import { resetConfigCache } from '../shared/config.ts';
import { resetSqsClient } from '../shared/events/budget-queue.ts';
import { resetEventBridgeClient } from '../shared/events/publisher.ts';
import { SMART_GATEWAY_SYNC_RULE_PATTERN, THRESHOLD_INVOICING_RULE_PATTERN } from '../shared/events/rules.ts';
import { logger } from '../shared/logger.ts';
import { resetStripeCredentials } from '../shared/payments/stripe-credentials.ts';
import { resetStripeGateway } from '../shared/payments/stripe-gateway.ts';
import { configureDynamoClients } from '../shared/store/client.ts';
import { resetDocumentsClient } from '../shared/store/documents.ts';
import type { CloseReport } from '../shared/use-cases/invoicing/close-periods.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';
import { localClock } from './clock.ts';
import { addCommitBarrier } from './commit-barrier.ts';
import { lockDataFolder } from './data-lock.ts';
import { type DevKeys, loadOrCreateDevKeys } from './dev-auth.ts';
import { ensureTables, LOCAL_AWS, type LocalTableNames, startDynamoDbLocal } from './dynamodb-local.ts';
import { type BusRecord, type LocalEventBus, startLocalEventBus } from './event-bus.ts';
import { type QueueMessage, startLocalFifoQueue } from './fifo-queue.ts';
import { type LambdaHandler, LocalAnswer, startLocalApi } from './http-server.ts';
import { startLocalObjectStore } from './object-store.ts';
import { type StreamPoller, startStreamPoller } from './stream-poller.ts';
import { scanTable } from './tables.ts';
import { addWriteSignal } from './write-signal.ts';

/**
 * Local mode (SPEC §3): one process with DynamoDB Local, the HTTP API, the stream → fan-out → bus →
 * SmartGateway-sync path, all running the handler modules in functions/ unchanged.
 */
export const REPO_ROOT = resolve(import.meta.dirname, '..');
export const DEFAULT_DATA_DIR = join(REPO_ROOT, '.local-data');

export type LocalRuntimeOptions = {
  port?: number;
  /** Where DynamoDB Local keeps its files, stream checkpoints and the dev signing key. */
  dataDir?: string;
  /** Keep the store in memory (nothing survives a restart); the dev key still lives in dataDir. */
  inMemory?: boolean;
  quiet?: boolean;
  /** How often the local period-close job runs (the hourly schedule in AWS); 0 turns it off. */
  closePeriodsEverySeconds?: number;
  /**
   * false: no stream poller, so nothing a write does reaches the fan-out, the bus or the SmartGateway
   * tables. Only benchmarks set it, to measure the API path alone beside the whole service.
   */
  eventPath?: boolean;
  /**
   * Fault-injection tests wrap handlers here (e.g. make the sync fail, or the fan-out crash after
   * publishing half its batch); the service itself never sets it.
   */
  wrapHandler?: (name: string, handler: LambdaHandler) => LambdaHandler;
};

export type LocalRuntime = {
  url: string;
  dataDir: string;
  inMemory: boolean;
  tables: LocalTableNames;
  keys: DevKeys;
  dynamoDbEndpoint: string;
  bus: LocalEventBus;
  /** Resolves once every write made so far has gone through the stream, the bus and its targets. */
  settled: () => Promise<void>;
  /**
   * Holds the stream poller (resolves once its batch under way is delivered) and lets it go on:
   * benchmarks measure a job alone, as its Lambda runs in AWS beside the fan-out's, then the
   * fan-out's catch-up. Writes meanwhile wait in the stream; nothing is lost or reordered.
   */
  pauseEventPath: () => Promise<void>;
  resumeEventPath: () => void;
  streamDeadLetters: () => { record: DynamoDBRecord; reason: string }[];
  /** Puts every dead-lettered stream record and bus event through again (`POST /_local/redrive`). */
  redrive: () => Promise<RedriveReport>;
  stop: () => Promise<void>;
};

export type RedriveReport = {
  stream: { redriven: number; still_dead: number };
  bus: { redriven: number; still_dead: number };
  queue: { redriven: number; still_dead: number };
};

export const LOCAL_TABLES: LocalTableNames = {
  billing: 'billing-local',
  budgets: 'budgets-local',
  routingPolicies: 'routing-policies-local',
};
const LOCAL_BUS = 'billing-local';
const LOCAL_DOCUMENTS_BUCKET = 'billing-documents-local';

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const inMemory = options.inMemory ?? false;
  const log = options.quiet ? () => undefined : (message: string) => console.log(message);

  const unlock = inMemory ? () => undefined : lockDataFolder(dataDir);
  const dynamoDb = await startDynamoDbLocal({
    dataDir: inMemory ? undefined : join(dataDir, 'dynamodb'),
  }).catch((error: unknown) => {
    unlock();
    throw error;
  });
  const stops: (() => Promise<unknown>)[] = [dynamoDb.stop, async () => unlock()];
  try {
    await ensureTables(dynamoDb.client, LOCAL_TABLES);
    const handlers = new Map<string, Promise<LambdaHandler>>();
    const loadHandler = (name: string) => {
      if (!handlers.has(name)) {
        const url = pathToFileURL(join(REPO_ROOT, 'functions', `${name}.ts`)).href;
        handlers.set(
          name,
          import(url).then((module: { handler: LambdaHandler }) =>
            options.wrapHandler ? options.wrapHandler(name, module.handler) : module.handler,
          ),
        );
      }
      return handlers.get(name)!;
    };

    // Dead letters outlive a restart, as a DLQ does: kept in the data folder, redriven from there.
    const deadLettersFile = inMemory ? undefined : join(dataDir, 'dead-letters.json');
    const kept = readDeadLetters(deadLettersFile);
    const deadStreamRecords: { record: DynamoDBRecord; reason: string }[] = kept.stream;
    // Called only once the bus runs (nothing is dead-lettered before).
    const keepDeadLetters = () => {
      if (deadLettersFile)
        writeFileAtomic(
          deadLettersFile,
          JSON.stringify({
            stream: deadStreamRecords,
            bus: bus.deadLetters(),
            queue: budgetQueue.deadLetters(),
          }),
        );
    };
    // The budget queue (SQS FIFO in AWS): the fan-out sends budget inputs, grouped by subscription,
    // to the projector, which applies each subscription's one batch at a time.
    const budgetQueue = await startLocalFifoQueue({
      name: 'budget-inputs-local.fifo',
      restoredDeadLetters: kept.queue,
      onDeadLettersChanged: () => keepDeadLetters(),
      consume: async (event) =>
        (await invoke(await loadHandler('budget-projector'), event)) as SQSBatchResponse | undefined,
    });
    stops.unshift(budgetQueue.stop);
    const bus = await startLocalEventBus({
      busName: LOCAL_BUS,
      restoredDeadLetters: kept.bus,
      onDeadLettersChanged: keepDeadLetters,
      targets: [
        {
          name: 'smart-gateway-sync',
          pattern: SMART_GATEWAY_SYNC_RULE_PATTERN,
          invoke: async (event: EventBridgeEvent<string, unknown>) =>
            invoke(await loadHandler('smart-gateway-sync'), event),
        },
        {
          name: 'usage-threshold-invoicer',
          pattern: THRESHOLD_INVOICING_RULE_PATTERN,
          invoke: async (event: EventBridgeEvent<string, unknown>) =>
            invoke(await loadHandler('usage-threshold-invoicer'), event),
        },
      ],
    });
    stops.unshift(bus.stop);

    // The documents bucket (S3 in AWS): invoice PDFs, kept in the data folder.
    const documents = await startLocalObjectStore({
      bucket: LOCAL_DOCUMENTS_BUCKET,
      directory: inMemory ? undefined : join(dataDir, 'documents'),
    });
    stops.unshift(documents.stop);

    // The handlers read their configuration from the environment, exactly as in Lambda.
    Object.assign(process.env, {
      STAGE: 'local',
      TABLE_NAME: LOCAL_TABLES.billing,
      BUDGETS_TABLE_NAME: LOCAL_TABLES.budgets,
      ROUTING_POLICIES_TABLE_NAME: LOCAL_TABLES.routingPolicies,
      DYNAMODB_ENDPOINT: dynamoDb.endpoint,
      EVENT_BUS_NAME: LOCAL_BUS,
      EVENTBRIDGE_ENDPOINT: bus.endpoint,
      BUDGET_QUEUE_URL: budgetQueue.url,
      SQS_ENDPOINT: budgetQueue.endpoint,
      DOCUMENTS_BUCKET: LOCAL_DOCUMENTS_BUCKET,
      S3_ENDPOINT: documents.endpoint,
      AWS_REGION: LOCAL_AWS.region,
      AWS_ACCESS_KEY_ID: LOCAL_AWS.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_AWS.credentials.secretAccessKey,
      // Powertools (shared/observability.ts): no EMF metric lines on the terminal unless asked for
      // (POWERTOOLS_METRICS_DISABLED=false), and no X-Ray (no daemon here; the tracer also turns itself
      // off outside Lambda).
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
    });
    // Handler logs are JSON lines for CloudWatch; locally only warnings and errors are worth a terminal line.
    logger.setLogLevel(
      (process.env.POWERTOOLS_LOG_LEVEL as 'WARN' | undefined) ?? (options.quiet ? 'ERROR' : 'WARN'),
    );
    resetConfigCache();
    resetStripeCredentials();
    resetStripeGateway();
    // An acknowledged transaction must survive a kill -9 of DynamoDB Local (commit-barrier.ts says why
    // it needs help); a store in memory loses everything on a kill anyway. Every write the handlers
    // make wakes the stream poller from its idle backoff.
    let wakePoller = () => {};
    configureDynamoClients((client) => {
      if (!inMemory) addCommitBarrier(client);
      addWriteSignal(client, () => wakePoller());
    });
    stops.unshift(async () => configureDynamoClients(undefined));
    resetEventBridgeClient();
    resetSqsClient();
    resetDocumentsClient();

    const poller: StreamPoller =
      options.eventPath === false
        ? {
            stop: async () => undefined,
            caughtUp: async () => undefined,
            wake: () => undefined,
            pause: async () => undefined,
            resume: () => undefined,
          }
        : await startStreamPoller({
            client: dynamoDb.client,
            endpoint: dynamoDb.endpoint,
            tableName: LOCAL_TABLES.billing,
            checkpointFile: inMemory ? undefined : join(dataDir, 'stream-checkpoints.json'),
            handler: async (event: DynamoDBStreamEvent) =>
              invoke(await loadHandler('stream-fanout'), event) as Promise<DynamoDBBatchResponse>,
            // The bus and the queue hold events in memory: a batch is done once they are delivered, and
            // the projections they led to written (stream-poller.ts).
            delivered: async () => {
              await budgetQueue.idle();
              await bus.idle();
            },
            onDeadLetter: (record, reason) => {
              deadStreamRecords.unshift({ record, reason });
              keepDeadLetters();
              console.error(`[stream] record ${record.dynamodb?.SequenceNumber} dead-lettered: ${reason}`);
            },
          });
    stops.unshift(poller.stop);
    wakePoller = poller.wake;

    /**
     * The local twin of the documented redrive (infra/README.md): dead stream records go through the
     * fan-out again, in their original order, then dead bus events to their targets.
     */
    const redrive = async (): Promise<RedriveReport> => {
      const parked = deadStreamRecords.splice(0, deadStreamRecords.length).reverse();
      const fanout = await loadHandler('stream-fanout');
      for (const entry of parked) {
        const outcome = (await invoke(fanout, { Records: [entry.record] }).catch((error: unknown) => ({
          batchItemFailures: [{ itemIdentifier: String((error as Error).message) }],
        }))) as DynamoDBBatchResponse;
        if (outcome.batchItemFailures.length > 0) deadStreamRecords.unshift(entry);
      }
      await bus.idle();
      keepDeadLetters();
      await budgetQueue.idle();
      const queueReport = await budgetQueue.redrive();
      const busReport = await bus.redrive();
      return {
        stream: { redriven: parked.length - deadStreamRecords.length, still_dead: deadStreamRecords.length },
        bus: busReport,
        queue: queueReport,
      };
    };

    const clock = localClock(inMemory ? undefined : join(dataDir, 'clock.json'));
    // The same handler the hourly schedule invokes in AWS, given the event EventBridge sends it.
    const closePeriods = async (at: Date) =>
      (await invoke(await loadHandler('close-periods'), scheduledEvent(at))) as CloseReport;
    const keys = await loadOrCreateDevKeys(join(dataDir, 'dev-jwt-key.json'));
    const { server, url } = await startLocalApi({
      port: options.port ?? 3000,
      keys,
      loadHandler,
      clock: clock.now,
      localRoutes: [
        {
          method: 'GET',
          path: '/_local/budgets',
          respond: () => scanTable(dynamoDb.client, LOCAL_TABLES.budgets),
        },
        {
          method: 'GET',
          path: '/_local/routing-policies',
          respond: () => scanTable(dynamoDb.client, LOCAL_TABLES.routingPolicies),
        },
        { method: 'GET', path: '/_local/events', respond: () => ({ events: bus.recent() }) },
        {
          // The period-close job on demand. `?days=<n>` moves the local clock n days forward (from
          // where it is: run twice, it moves twice), `?at=<ISO time>` to that moment if it is later;
          // then it closes as of the clock, so a month can be billed without waiting for it.
          method: 'POST',
          path: '/_local/close-periods',
          respond: async (url: URL) => {
            const requested = requestedTime(url, clock.now());
            if (requested instanceof LocalAnswer) return requested;
            const at = clock.advanceTo(requested);
            return { at: at.toISOString(), ...(await closePeriods(at)) };
          },
        },
        {
          method: 'GET',
          path: '/_local/dead-letters',
          respond: () => ({
            bus: bus.deadLetters(),
            stream: deadStreamRecords,
            queue: budgetQueue.deadLetters(),
          }),
        },
        { method: 'POST', path: '/_local/redrive', respond: () => redrive() },
      ],
    });
    stops.unshift(() => new Promise<void>((done) => server.close(() => done())));
    // The scheduled close (hourly in AWS), on the local clock.
    const everySeconds = options.closePeriodsEverySeconds ?? 60;
    if (everySeconds > 0) {
      const timer = setInterval(() => {
        closePeriods(clock.now()).catch((error: unknown) =>
          console.error(`[close-periods] the scheduled close failed: ${(error as Error).message}`),
        );
      }, everySeconds * 1000);
      timer.unref();
      stops.unshift(async () => clearInterval(timer));
    }
    log(
      `DynamoDB Local at ${dynamoDb.endpoint} (${inMemory ? 'in memory' : `data in ${join(dataDir, 'dynamodb')}`})`,
    );

    return {
      url,
      dataDir,
      inMemory,
      tables: LOCAL_TABLES,
      keys,
      dynamoDbEndpoint: dynamoDb.endpoint,
      bus,
      settled: async () => {
        // Two hops: usage and subscription records reach the projector through the queue; the
        // projection it writes then goes through the stream again to the bus as budget.updated.
        for (let hop = 0; hop < 2; hop++) {
          await poller.caughtUp();
          await budgetQueue.idle();
          await bus.idle();
        }
      },
      pauseEventPath: poller.pause,
      resumeEventPath: poller.resume,
      streamDeadLetters: () => deadStreamRecords,
      redrive,
      stop: async () => {
        server.closeAllConnections?.();
        for (const stop of stops) await stop();
      },
    };
  } catch (error) {
    for (const stop of stops) await stop().catch(() => undefined);
    throw error;
  }
}

type KeptDeadLetters = {
  stream: { record: DynamoDBRecord; reason: string }[];
  bus: BusRecord[];
  queue: QueueMessage[];
};

/** The dead letters an earlier run left in the data folder (none in memory, or on a first start). */
function readDeadLetters(file: string | undefined): KeptDeadLetters {
  let kept: Partial<KeptDeadLetters> | undefined;
  try {
    kept = file ? readJsonFile<Partial<KeptDeadLetters>>(file) : undefined;
  } catch {
    throw new Error(
      `${file} is not readable; move it aside (it lists dead letters to redrive) and start again`,
    );
  }
  return { stream: kept?.stream ?? [], bus: kept?.bus ?? [], queue: kept?.queue ?? [] };
}

/** Background handlers take other event shapes than the HTTP ones; the module export is the same. */
const invoke = (handler: LambdaHandler, event: unknown): Promise<unknown> =>
  (handler as unknown as (event: unknown) => Promise<unknown>)(event);

/** What EventBridge hands the close-periods target on schedule (`time`: when the run was due). */
const scheduledEvent = (at: Date): ScheduledEvent => ({
  version: '0',
  id: randomUUID(),
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '000000000000',
  time: at.toISOString(),
  region: LOCAL_AWS.region,
  resources: ['arn:aws:events:local:000000000000:rule/close-periods-schedule'],
  detail: {},
});

/** How far one `POST /_local/close-periods` may move the clock: a year of periods in one request. */
export const MAX_CLOSE_AHEAD_DAYS = 366;

/** The moment `POST /_local/close-periods` is asked to close as of, or a 400 problem naming the parameter. */
function requestedTime(url: URL, now: Date): Date | LocalAnswer {
  const days = url.searchParams.get('days');
  const at = url.searchParams.get('at');
  const invalid = (field: string, message: string) =>
    new LocalAnswer(400, {
      type: '/problems/validation',
      title: 'The request is invalid',
      status: 400,
      detail: `${field}: ${message}`,
      errors: [{ field, message }],
    });
  if (days !== null && at !== null) return invalid('days', 'send days or at, not both');
  if (days !== null) {
    if (!/^\d{1,3}(\.\d{1,6})?$/.test(days) || Number(days) > MAX_CLOSE_AHEAD_DAYS)
      return invalid('days', `must be a number of days from 0 to ${MAX_CLOSE_AHEAD_DAYS}, such as 32 or 0.5`);
    return new Date(now.getTime() + Math.round(Number(days) * 86_400_000));
  }
  if (at !== null) {
    // ISO 8601 with a date and a time: what `new Date` would also read ("1", "May") is refused.
    const moment = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(at)
      ? new Date(at)
      : new Date(Number.NaN);
    if (Number.isNaN(moment.getTime()))
      return invalid('at', 'must be an ISO 8601 time such as 2027-01-02T00:00:00Z');
    if (moment.getTime() > now.getTime() + MAX_CLOSE_AHEAD_DAYS * 86_400_000)
      return invalid(
        'at',
        `may be at most ${MAX_CLOSE_AHEAD_DAYS} days ahead of the local clock (${now.toISOString()})`,
      );
    return moment;
  }
  return now;
}
