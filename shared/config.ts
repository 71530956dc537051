/**
 * The one place runtime configuration is read. Lambdas get these variables from the CDK stack;
 * the local runtime sets them before it loads any handler. Nothing else reads process.env.
 */
export type RuntimeConfig = {
  stage: string;
  tableName: string;
  /** Set only when the store is not the AWS regional endpoint (the local DynamoDB). */
  dynamoDbEndpoint: string | undefined;
  eventBusName: string;
  /** Set only when the bus is not the AWS regional endpoint (the local bus). */
  eventBridgeEndpoint: string | undefined;
  /** The SQS FIFO queue of budget inputs (one message group per subscription); the fan-out sends to it. */
  budgetQueueUrl: string;
  /** Set only when the queue is not the AWS regional endpoint (the local queue). */
  sqsEndpoint: string | undefined;
  budgetsTableName: string;
  routingPoliciesTableName: string;
  region: string;
  /** Secrets Manager secret (JSON with secret_key and webhook_secret) holding Stripe credentials. */
  stripeSecretArn: string | undefined;
  /** Direct Stripe credentials (local mode); the secret ARN wins when both are set. */
  stripeSecretKey: string | undefined;
  stripeWebhookSecret: string | undefined;
  /** Stripe API host override, for tests against a local Stripe-compatible server. */
  stripeApiBase: string | undefined;
  /** Largest request body accepted, in bytes, unless a route says otherwise. */
  maxBodyBytes: number;
  idempotencyTtlSeconds: number;
  /**
   * How long usage records (each record's claim and its listing entry) are kept after their period
   * ends: what `GET …/usage-records` can still show to an auditor (docs/usage-metering.md, "Retention").
   */
  usageRecordRetentionDays: number;
  /** The S3 bucket invoice PDFs are kept in (shared/store/documents.ts); empty where no handler needs it. */
  documentsBucket: string;
  /** Set only when the bucket is not on the AWS regional endpoint (the local object store). */
  s3Endpoint: string | undefined;
  /**
   * The seller as invoices print it: name, address, tax id, one line each (INVOICE_ISSUER, lines
   * separated by "\n" or " | "); the stage's `invoiceIssuer`. Empty: invoices print no seller block.
   */
  invoiceIssuer: string[];
};

/**
 * Who a token belongs to (infra/README.md, "Tenancy"): the claim that names the tenant, and the scope
 * that marks an operator. A token with neither is refused. Stage settings `tenantClaim` and
 * `operatorScope`, handed to every Lambda (and the local authorizer) as TENANT_CLAIM and OPERATOR_SCOPE.
 */
export type TenancyConfig = { tenantClaim: string; operatorScope: string };

export const DEFAULT_TENANT_CLAIM = 'tenant_id';
export const DEFAULT_OPERATOR_SCOPE = 'billing:operator';

/** Read on its own (no table needed), so the authorizer and unit tests can use it. */
function readTenancyConfig(env: NodeJS.ProcessEnv): TenancyConfig {
  return {
    tenantClaim: env.TENANT_CLAIM?.trim() || DEFAULT_TENANT_CLAIM,
    operatorScope: env.OPERATOR_SCOPE?.trim() || DEFAULT_OPERATOR_SCOPE,
  };
}

let cachedTenancy: TenancyConfig | undefined;

/** This process's tenancy settings, read once like config() (every request needs them). */
export function tenancyConfig(): TenancyConfig {
  cachedTenancy ??= readTenancyConfig(process.env);
  return cachedTenancy;
}

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
export const DEFAULT_USAGE_RECORD_RETENTION_DAYS = 400;
/**
 * A record's claim must outlive every copy of it that can still be accepted (a copy is refused once
 * its timestamp is 45 days old, well before its period's end + 60 days), or a replay would count twice.
 */
export const MIN_USAGE_RECORD_RETENTION_DAYS = 60;

export function readConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  return {
    stage: env.STAGE ?? 'dev',
    tableName: required(env, 'TABLE_NAME'),
    dynamoDbEndpoint: env.DYNAMODB_ENDPOINT || undefined,
    eventBusName: env.EVENT_BUS_NAME ?? 'default',
    eventBridgeEndpoint: env.EVENTBRIDGE_ENDPOINT || undefined,
    budgetQueueUrl: env.BUDGET_QUEUE_URL ?? '',
    sqsEndpoint: env.SQS_ENDPOINT || undefined,
    budgetsTableName: env.BUDGETS_TABLE_NAME ?? '',
    routingPoliciesTableName: env.ROUTING_POLICIES_TABLE_NAME ?? '',
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    stripeSecretArn: env.STRIPE_SECRET_ARN || undefined,
    stripeSecretKey: env.STRIPE_SECRET_KEY || undefined,
    stripeWebhookSecret: env.STRIPE_WEBHOOK_SECRET || undefined,
    stripeApiBase: env.STRIPE_API_BASE || undefined,
    maxBodyBytes: positiveInt(env, 'MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES),
    idempotencyTtlSeconds: positiveInt(env, 'IDEMPOTENCY_TTL_SECONDS', DEFAULT_IDEMPOTENCY_TTL_SECONDS),
    usageRecordRetentionDays: retentionDays(env),
    documentsBucket: env.DOCUMENTS_BUCKET ?? '',
    s3Endpoint: env.S3_ENDPOINT || undefined,
    invoiceIssuer: issuerLines(env.INVOICE_ISSUER),
  };
}

let cached: RuntimeConfig | undefined;

/** Configuration of this process, read once (Lambda environments do not change while warm). */
export function config(): RuntimeConfig {
  cached ??= readConfig();
  return cached;
}

/** For the local runtime and tests, which set the environment after modules were loaded. */
export function resetConfigCache(): void {
  cached = undefined;
  cachedTenancy = undefined;
}

/** INVOICE_ISSUER's lines: split at newlines or " | ", trimmed, empty ones dropped. */
export function issuerLines(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(/\n| \| /)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`Missing required environment variable ${name}`);
  return value;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`Environment variable ${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

function retentionDays(env: NodeJS.ProcessEnv): number {
  const days = positiveInt(env, 'USAGE_RECORD_RETENTION_DAYS', DEFAULT_USAGE_RECORD_RETENTION_DAYS);
  if (days < MIN_USAGE_RECORD_RETENTION_DAYS) {
    throw new Error(
      `USAGE_RECORD_RETENTION_DAYS must be at least ${MIN_USAGE_RECORD_RETENTION_DAYS} (records prove exactly-once counting for that long), got ${days}`,
    );
  }
  return days;
}
