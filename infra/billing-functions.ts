import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ALL_HANDLERS, type BACKGROUND_HANDLERS, ROUTES } from '../shared/http/routes.ts';
import type { StageConfig } from './stage-config.ts';

/** Where `node esbuild.config.mjs` writes one `<name>/index.mjs` bundle per handler. */
export const DEFAULT_ASSET_ROOT = fileURLToPath(new URL('../dist/functions', import.meta.url));

type FunctionSettings = {
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly description: string;
};

/** Every function's runtime (see RUNTIME_PIN_REASON for why it is pinned). */
export const RUNTIME = lambda.Runtime.NODEJS_22_X;

/** Why the latest-runtime rules (AwsSolutions-L1, Serverless-LambdaLatestVersion) are acknowledged. */
const RUNTIME_PIN_REASON =
  'The runtime is pinned on purpose to Node.js 22, an LTS runtime Lambda supports: the bundles ' +
  'target node22 (esbuild.config.mjs) and are tested on it; moving to a newer runtime is a ' +
  'deliberate, tested change, not something the latest-runtime rule should make implicitly.';

/** API handlers answer within API Gateway's 30 s integration limit, Stripe calls included. */
const API_SETTINGS = { memorySize: 512, timeout: Duration.seconds(15) } as const;

const BACKGROUND_SETTINGS: Record<(typeof BACKGROUND_HANDLERS)[number], FunctionSettings> = {
  'stream-fanout': {
    memorySize: 512,
    timeout: Duration.seconds(60),
    description: 'Billing table stream -> typed events -> EventBridge bus',
  },
  'close-periods': {
    memorySize: 1024,
    timeout: Duration.minutes(15),
    description: 'Hourly: closes ended billing periods into draft invoices (safe to rerun)',
  },
  'budget-projector': {
    memorySize: 256,
    timeout: Duration.seconds(30),
    description: 'Budget queue (FIFO, per subscription) -> budget projection and spend ledgers',
  },
  'usage-threshold-invoicer': {
    memorySize: 256,
    timeout: Duration.seconds(30),
    description: 'usage.threshold_reached -> invoices the usage so far (progressive billing)',
  },
  'smart-gateway-sync': {
    memorySize: 256,
    timeout: Duration.seconds(30),
    description: 'Billing events -> SmartGateway budgets / routing_policies tables',
  },
};

export type BillingFunctionsProps = {
  readonly config: StageConfig;
  /** The handlers to make a Lambda for (each a name in ALL_HANDLERS); defaults to all of them. */
  readonly handlers?: readonly string[];
  /** Directory holding `<handler>/index.mjs` for every handler; defaults to dist/functions. */
  readonly assetRoot?: string;
  /** Variables every function gets (STAGE, TABLE_NAME, ...); constructs add their own later. */
  readonly environment: Readonly<Record<string, string>>;
};

/** Finds the Lambda of a handler, wherever (in which stack) it was made. */
export interface HandlerFunctions {
  get(name: string): lambda.Function;
  entries(): [string, lambda.Function][];
}

/**
 * One Lambda per handler name (all of ALL_HANDLERS unless `handlers` says which): Node.js 22 on arm64, the esbuild bundle as code
 * (`index.handler`), source maps on, X-Ray active tracing, and a log group with the stage's retention.
 * Each function has its own execution role that starts with nothing but writing to its own log group
 * (no AWSLambdaBasicExecutionRole, which may write to every log group of the account); the
 * constructs that own the other resources grant the rest.
 */
export class BillingFunctions extends Construct implements HandlerFunctions {
  private readonly byName = new Map<string, lambda.Function>();

  constructor(scope: Construct, id: string, props: BillingFunctionsProps) {
    super(scope, id);
    const assetRoot = props.assetRoot ?? DEFAULT_ASSET_ROOT;
    const handlers = props.handlers ?? ALL_HANDLERS;
    const unknown = handlers.filter((name) => !ALL_HANDLERS.includes(name));
    if (unknown.length > 0) throw new Error(`Not handlers (ALL_HANDLERS): ${unknown.join(', ')}`);
    const missing = handlers.filter((name) => !existsSync(join(assetRoot, name, 'index.mjs')));
    if (missing.length > 0) {
      throw new Error(
        `Missing Lambda bundle(s) in ${assetRoot}: ${missing.map((name) => `${name}/index.mjs`).join(', ')}. ` +
          'Run `node esbuild.config.mjs` (cdk.json runs it before every synth) or point assetRoot at a ' +
          'directory holding <handler>/index.mjs for every handler in ALL_HANDLERS.',
      );
    }

    for (const name of handlers) {
      const settings = settingsFor(name);
      const id = pascalCase(name);
      const logGroup = new logs.LogGroup(this, `${id}Logs`, {
        retention: props.config.logRetention,
        removalPolicy: props.config.removalPolicy,
      });
      const role = new iam.Role(this, `${id}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `Execution role of the ${name} Lambda (${props.config.stage})`,
      });
      logGroup.grantWrite(role);
      const fn = new lambda.Function(this, id, {
        description: `${settings.description} (${props.config.stage})`,
        runtime: RUNTIME,
        architecture: lambda.Architecture.ARM_64,
        code: lambda.Code.fromAsset(join(assetRoot, name)),
        handler: 'index.handler',
        memorySize: settings.memorySize,
        timeout: settings.timeout,
        role,
        logGroup,
        // X-Ray: Lambda opens the invocation segment, Powertools Tracer (shared/observability.ts) adds
        // the handler subsegment and the outgoing HTTPS calls (DynamoDB, EventBridge, Stripe).
        tracing: lambda.Tracing.ACTIVE,
        // No --enable-source-maps: it parses the bundle's map at every cold start (~10 % of its CPU);
        // shared/source-mapped-stacks.ts maps a stack with it only when one is formatted.
        environment: { ...props.environment },
      });
      Validations.of(fn).acknowledge(
        { id: 'AwsSolutions-L1', reason: RUNTIME_PIN_REASON },
        { id: 'Serverless-LambdaLatestVersion', reason: RUNTIME_PIN_REASON },
      );
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray active tracing: CDK grants xray:PutTraceSegments and xray:PutTelemetryRecords, which do ' +
          'not support resource-level permissions, so their statement must name Resource "*".',
      });
      this.byName.set(name, fn);
    }
  }

  /** The function of one handler; throws for a name that is not in ALL_HANDLERS. */
  get(name: string): lambda.Function {
    const fn = this.byName.get(name);
    if (!fn)
      throw new Error(`No Lambda for handler "${name}" (known: ${[...this.byName.keys()].join(', ')})`);
    return fn;
  }

  /** [handler name, function] for every handler of this set, in the order they were made. */
  entries(): [string, lambda.Function][] {
    return [...this.byName.entries()];
  }

  /** Adds one variable to every function. */
  addEnvironment(key: string, value: string): void {
    for (const fn of this.byName.values()) fn.addEnvironment(key, value);
  }
}

/** The functions of several BillingFunctions (one per stack) as one lookup. */
export class CombinedFunctions implements HandlerFunctions {
  constructor(private readonly parts: readonly BillingFunctions[]) {}

  get(name: string): lambda.Function {
    const part = this.parts.find((p) => p.entries().some(([known]) => known === name));
    if (!part) throw new Error(`No Lambda for handler "${name}"`);
    return part.get(name);
  }

  entries(): [string, lambda.Function][] {
    return this.parts.flatMap((part) => part.entries());
  }

  addEnvironment(key: string, value: string): void {
    for (const part of this.parts) part.addEnvironment(key, value);
  }
}

function settingsFor(name: string): FunctionSettings {
  if (name in BACKGROUND_SETTINGS) return BACKGROUND_SETTINGS[name as keyof typeof BACKGROUND_SETTINGS];
  const routes = ROUTES.filter((route) => route.handler === name);
  const summary = routes.map((route) => `${route.method} ${route.path}`).join(', ');
  return { ...API_SETTINGS, description: `Billing API: ${summary || name}` };
}

/** `customers-create` -> `CustomersCreate`: a stable construct id (and so a stable logical id). */
export function pascalCase(name: string): string {
  return name
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
