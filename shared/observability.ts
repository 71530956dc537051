import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { config } from './config.ts';
import { logger, SERVICE_NAME } from './logger.ts';
import { mapStacksLazily } from './source-mapped-stacks.ts';

/**
 * Logs, metrics and traces of every Lambda (Powertools for AWS Lambda), as middy middlewares:
 *
 * - logs: the Powertools logger (shared/logger.ts) gets the invocation's context (function name,
 *   request id, cold start; the X-Ray trace id is added by the logger itself);
 * - metrics: CloudWatch embedded metric format (EMF) lines on stdout, namespace `Billing`, dimensions
 *   `service` and `stage`; a `ColdStart` metric per cold start (plus `function_name`), and the domain
 *   counts in METRIC, published once per invocation;
 * - traces: a `## index.handler` subsegment per invocation under Lambda's active-tracing segment, with
 *   the outgoing HTTPS calls (DynamoDB, EventBridge, Secrets Manager, Stripe) as subsegments.
 *
 * Outside Lambda (local runtime, tests) tracing is off (no AWS_EXECUTION_ENV, or
 * POWERTOOLS_TRACE_ENABLED=false), and then the tracer is never loaded: the X-Ray SDK installs async
 * hooks when it is imported, which cost ~20 % of a request's CPU even with tracing off. local/runtime.ts
 * and the test setup set POWERTOOLS_METRICS_DISABLED=true so EMF lines are not printed.
 */

// In a Lambda bundle (this module inside dist/functions/<name>/, in index.mjs or one of its chunks),
// stack traces name the sources, each file's map read on the first stack formatted there
// (source-mapped-stacks.ts); run from sources (tsx, tests) they are already in terms of them.
if (import.meta.url.endsWith('.mjs')) mapStacksLazily();

export const METRICS_NAMESPACE = 'Billing';

/** Every metric name the handlers emit (infra/README.md lists them for dashboards and alarms). */
export const METRIC = {
  /** stream-fanout: table stream records received, events put on the bus, events EventBridge kept refusing. */
  streamRecords: 'StreamRecords',
  eventsPublished: 'EventsPublished',
  eventsNotPublished: 'EventsNotPublished',
  /** stream-fanout: a record that could not be mapped to events (the batch is retried, then DLQ'd). */
  streamRecordsUnmappable: 'StreamRecordsUnmappable',
  /** smart-gateway-sync: events applied to the SmartGateway tables, ignored (not its business), stale. */
  syncEventsApplied: 'SyncEventsApplied',
  syncEventsIgnored: 'SyncEventsIgnored',
  syncEventsStale: 'SyncEventsStale',
  /** close-periods: draft invoices created, subscriptions moved to past_due and back to active. */
  invoicesCreated: 'InvoicesCreated',
  subscriptionsPastDue: 'SubscriptionsPastDue',
  subscriptionsRestored: 'SubscriptionsRestored',
  /** close-periods: subscriptions the close (or dunning) failed on; the others were closed (alarmed). */
  periodCloseFailures: 'PeriodCloseFailures',
  /** close-periods: items the daily check of the complete due index had to fix (alarmed; zero unless a rollback). */
  dueIndexRepaired: 'DueIndexRepaired',
  /** stripe-webhook: verified events by outcome, and calls refused (bad or missing signature, no secret). */
  stripeWebhookProcessed: 'StripeWebhookProcessed',
  stripeWebhookIgnored: 'StripeWebhookIgnored',
  stripeWebhookDuplicate: 'StripeWebhookDuplicate',
  stripeWebhookRejected: 'StripeWebhookRejected',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

let metricsInstance: Metrics | undefined;

/**
 * The process's metrics, created on first use: by then the Lambda (or the local runtime) has its
 * environment, which decides the stage dimension and whether metrics are printed at all.
 */
export function metrics(): Metrics {
  metricsInstance ??= new Metrics({
    namespace: METRICS_NAMESPACE,
    serviceName: SERVICE_NAME,
    defaultDimensions: stageDimension(),
  });
  return metricsInstance;
}

/**
 * Observability must never be why a request fails: when the configuration cannot be read (a missing
 * variable), the handler reports that itself, as a problem response, and metrics go without a stage.
 */
function stageDimension(): Record<string, string> {
  try {
    return { stage: config().stage };
  } catch {
    return {};
  }
}

/** Adds to a count published at the end of this invocation (zeros too: a quiet hour is data, not a gap). */
export function count(name: MetricName, value = 1): void {
  metrics().addMetric(name, MetricUnit.Count, value);
}

/**
 * Whether this process traces: Powertools' own rule (on in Lambda unless POWERTOOLS_TRACE_ENABLED is
 * "false"; off under SAM CLI, Amplify's mock and outside Lambda), decided before the tracer is loaded.
 */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  // Trimmed, as Powertools reads them.
  const execution = (env.AWS_EXECUTION_ENV ?? '').trim();
  if ((env.POWERTOOLS_TRACE_ENABLED ?? '').trim().toLowerCase() === 'false') return false;
  return (
    execution !== '' && execution !== 'AWS_Lambda_amplify-mock' && (env.AWS_SAM_LOCAL ?? '').trim() === ''
  );
}

type Capture = Required<Pick<MiddlewareObj, 'before' | 'after' | 'onError'>>;
let capture: Promise<Capture | undefined> | undefined;

/** X-Ray through Powertools, loaded (with its hooks and its patching of HTTPS) on first use, if tracing is on. */
function loadCapture(): Promise<Capture | undefined> {
  capture ??= tracingEnabled()
    ? Promise.all([
        import('@aws-lambda-powertools/tracer'),
        import('@aws-lambda-powertools/tracer/middleware'),
      ]).then(
        ([{ Tracer }, { captureLambdaHandler }]) =>
          captureLambdaHandler(new Tracer({ serviceName: SERVICE_NAME }), {
            captureResponse: false,
          }) as Capture,
        // Observability is never why a request fails: without its tracer, the function runs untraced.
        (error: unknown) => {
          logger.error('The tracer could not be loaded; this instance runs untraced', { error });
          return undefined;
        },
      )
    : Promise.resolve(undefined);
  return capture;
}

/**
 * Cold-start metric before the handler, the invocation's counts after it (also after an error). Only
 * publishes when there is something to publish: Powertools' own logMetrics middleware warns on every
 * invocation without a metric, which most API calls are.
 */
function publishMetrics(): MiddlewareObj {
  const publish = () => {
    const instance = metrics();
    if (instance.hasStoredMetrics()) instance.publishStoredMetrics();
  };
  return {
    before: (request) => {
      metrics().captureColdStartMetric((request.context as Partial<Context> | undefined)?.functionName);
    },
    after: publish,
    onError: publish,
  };
}

/**
 * The handler subsegment (Powertools' captureLambdaHandler). Responses are not recorded: they hold
 * customer data. An error that problemErrors has already turned into a 4xx response is the caller's
 * mistake, not a fault of the function, so the subsegment closes as a success for it.
 */
function traceInvocation(): MiddlewareObj {
  return {
    before: async (request) => {
      await (await loadCapture())?.before(request);
    },
    after: async (request) => {
      await (await loadCapture())?.after(request);
    },
    onError: async (request) => {
      const traced = await loadCapture();
      if (!traced) return;
      const status = (request.response as { statusCode?: unknown } | undefined)?.statusCode;
      // Neither returns a value: a value returned from onError would become the response.
      if (typeof status === 'number' && status < 500) await traced.after(request);
      else await traced.onError(request);
    },
  };
}

/**
 * The invocation's Lambda context on every log line. Not Powertools' injectLambdaContext: it resets the
 * log level to the initial one on every invocation, which would undo the local runtime's quieter level.
 */
function logContext(): MiddlewareObj {
  return {
    before: (request) => {
      logger.addContext(request.context as Context);
    },
  };
}

/**
 * The observability middlewares, to `.use()` first so they wrap everything else: their `after` and
 * `onError` run last, once problem errors have become responses.
 */
export function observability(): MiddlewareObj[] {
  return [logContext(), traceInvocation(), publishMetrics()];
}

/**
 * A handler that is not built by apiHandler (the background ones, the OpenAPI document) with the
 * observability middlewares. The context is optional because the local runtime and the unit tests call
 * background handlers with the event only.
 */
export function observedHandler<E, R>(
  handler: (event: E, context: Context) => Promise<R>,
): (event: E, context?: Context) => Promise<R> {
  const observed = middy<E, R>().use(observability()).handler(handler);
  return (event, context) => observed(event, context ?? ({} as Context));
}
