import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { EventBridgeEvent } from 'aws-lambda';
import { listenOnLoopback } from './ports.ts';

/**
 * A local EventBridge bus: it answers the PutEvents API the publisher's real SDK client calls,
 * matches each entry against the rules (the same pattern objects the CDK rules use), and delivers
 * to targets asynchronously with retries, then a dead-letter list, as EventBridge does.
 */
export type EventPattern = { source?: readonly string[]; 'detail-type'?: readonly string[] };

export type BusTarget = {
  name: string;
  pattern: EventPattern;
  invoke: (event: EventBridgeEvent<string, unknown>) => Promise<unknown>;
};

export type Delivery = {
  target: string;
  status: 'pending' | 'delivered' | 'dead-lettered';
  attempts: number;
  result?: unknown;
  error?: string;
};

export type BusRecord = {
  id: string;
  source: string;
  detail_type: string;
  time: string;
  detail: unknown;
  deliveries: Delivery[];
};

export type LocalEventBus = {
  endpoint: string;
  /** Newest first. */
  recent: () => BusRecord[];
  deadLetters: () => BusRecord[];
  /**
   * Delivers every dead-lettered event again to the targets that gave up on it (the local twin of
   * redriving the sync DLQ), with a fresh retry budget. Events delivered leave the dead-letter list;
   * those that fail again stay on it.
   */
  redrive: () => Promise<{ redriven: number; still_dead: number }>;
  /** Resolves when every accepted event has been delivered or dead-lettered. */
  idle: () => Promise<void>;
  stop: () => Promise<void>;
};

type PutEventsEntry = {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  EventBusName?: string;
  Time?: number | string;
  Resources?: string[];
};

export type LocalEventBusOptions = {
  busName: string;
  targets: BusTarget[];
  /** Attempts per target before dead-lettering (EventBridge's retry policy). */
  maxAttempts?: number;
  retryDelayMs?: number;
  keep?: number;
  /** Dead letters kept from an earlier run (the data folder): still there to redrive. */
  restoredDeadLetters?: BusRecord[];
  /** Told whenever the dead-letter list changed, to keep it (the runtime writes it to the data folder). */
  onDeadLettersChanged?: () => void;
};

export async function startLocalEventBus(options: LocalEventBusOptions): Promise<LocalEventBus> {
  const { busName, targets, maxAttempts = 3, retryDelayMs = 200, keep = 200 } = options;
  const history: BusRecord[] = [];
  const dead: BusRecord[] = [...(options.restoredDeadLetters ?? [])];
  /** While a redrive runs, the list is kept only once it is done (it holds the parked events). */
  let redriving = 0;
  const inFlight = new Set<Promise<void>>();

  const deliver = async (record: BusRecord, target: BusTarget, delivery: Delivery) => {
    const event = toEventBridgeEvent(record);
    for (;;) {
      delivery.attempts++;
      try {
        delivery.result = await target.invoke(event);
        delivery.status = 'delivered';
        delete delivery.error;
        return;
      } catch (error) {
        delivery.error = (error as Error).message;
        if (delivery.attempts >= maxAttempts) {
          delivery.status = 'dead-lettered';
          if (!dead.includes(record)) dead.unshift(record);
          if (redriving === 0) options.onDeadLettersChanged?.();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs * delivery.attempts));
      }
    }
  };

  const accept = (entry: PutEventsEntry): { EventId?: string; ErrorCode?: string; ErrorMessage?: string } => {
    if (!entry.Source || !entry.DetailType || entry.Detail === undefined) {
      return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source, DetailType and Detail are required' };
    }
    if (entry.EventBusName && entry.EventBusName !== busName) {
      return {
        ErrorCode: 'ResourceNotFoundException',
        ErrorMessage: `Event bus ${entry.EventBusName} does not exist`,
      };
    }
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail);
    } catch {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    const time = typeof entry.Time === 'number' ? new Date(entry.Time * 1000) : new Date();
    const record: BusRecord = {
      id: randomUUID(),
      source: entry.Source,
      detail_type: entry.DetailType,
      time: time.toISOString(),
      detail,
      deliveries: [],
    };
    history.unshift(record);
    history.length = Math.min(history.length, keep);
    for (const target of targets.filter((t) => matches(t.pattern, record))) {
      const delivery: Delivery = { target: target.name, status: 'pending', attempts: 0 };
      record.deliveries.push(delivery);
      const running = deliver(record, target, delivery).finally(() => inFlight.delete(running));
      inFlight.add(running);
    }
    return { EventId: record.id };
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (target !== 'AWSEvents.PutEvents') {
        res.statusCode = 400;
        res.end(
          JSON.stringify({ __type: 'UnknownOperationException', message: `${target} is not served locally` }),
        );
        return;
      }
      const { Entries = [] } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        Entries?: PutEventsEntry[];
      };
      const results = Entries.map(accept);
      res.end(
        JSON.stringify({ FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results }),
      );
    });
  });
  const endpoint = await listenOnLoopback(server);

  return {
    endpoint,
    recent: () => history,
    deadLetters: () => dead,
    redrive: async () => {
      // Taken off the list only in memory: the kept list changes once the redrive is done, so a
      // kill during it keeps every one of them.
      redriving++;
      const parked = dead.splice(0, dead.length);
      await Promise.all(
        parked.flatMap((record) =>
          record.deliveries
            .filter((delivery) => delivery.status === 'dead-lettered')
            .map((delivery) => {
              const target = targets.find((t) => t.name === delivery.target);
              if (!target) return Promise.resolve();
              delivery.status = 'pending';
              delivery.attempts = 0;
              return deliver(record, target, delivery);
            }),
        ),
      );
      redriving--;
      options.onDeadLettersChanged?.();
      return { redriven: parked.length - dead.length, still_dead: dead.length };
    },
    idle: async () => {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A bus record as EventBridge hands it to a target (and writes it to a target's dead-letter queue). */
export function toEventBridgeEvent(record: BusRecord): EventBridgeEvent<string, unknown> {
  return {
    version: '0',
    id: record.id,
    'detail-type': record.detail_type,
    source: record.source,
    account: '000000000000',
    time: record.time,
    region: 'local',
    resources: [],
    detail: record.detail,
  };
}

/** The subset of EventBridge pattern matching the billing rules use: exact values per field. */
export function matches(pattern: EventPattern, record: Pick<BusRecord, 'source' | 'detail_type'>): boolean {
  return (
    (!pattern.source || pattern.source.includes(record.source)) &&
    (!pattern['detail-type'] || pattern['detail-type'].includes(record.detail_type))
  );
}
