/**
 * Per-stage deployment configuration, read from CDK context and validated before any construct is
 * built, so a bad value fails `cdk synth` with one message that lists every problem.
 *
 * Where a value comes from, first match wins:
 *   1. a top-level context key: `-c jwtIssuer=...` on the command line (or a top-level key in cdk.json,
 *      which then applies to every stage: keep per-stage values in the `stages` block instead);
 *   2. the stage's block in cdk.json: `"context": { "stages": { "<stage>": { "jwtIssuer": ... } } }`;
 *   3. the defaults below (none for the JWT issuer and audience: a stage without them does not synth).
 */

import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  DEFAULT_OPERATOR_SCOPE,
  DEFAULT_TENANT_CLAIM,
  DEFAULT_USAGE_RECORD_RETENTION_DAYS,
  MIN_USAGE_RECORD_RETENTION_DAYS,
} from '../shared/config.ts';
import { ROUTES } from '../shared/http/routes.ts';

export type ApiThrottle = { readonly rateLimit: number; readonly burstLimit: number };

export type StageConfig = {
  readonly stage: string;
  /** OIDC issuer URL the HTTP API's JWT authorizer trusts (the `iss` claim). */
  readonly jwtIssuer: string;
  /** Accepted `aud` claims (any one of them). */
  readonly jwtAudience: readonly string[];
  /** Every stage except `dev` keeps its data: deletion protection on, RETAIN on stateful resources. */
  readonly retainData: boolean;
  readonly deletionProtection: boolean;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: RetentionDays;
  /** Where alarm notifications go; alarms exist either way. */
  readonly alarmEmail: string | undefined;
  /** Default route throttling of the API's `$default` stage. */
  readonly apiThrottle: ApiThrottle;
  /**
   * The JWT claim naming the tenant a token acts for (`tenant_id`; `custom:tenant_id` for Cognito, a
   * namespaced claim for Auth0). Every Lambda gets it as TENANT_CLAIM (infra/README.md, "Tenancy").
   */
  readonly tenantClaim: string;
  /**
   * The scope that makes a token without a tenant claim an operator's (`billing:operator`). Every Lambda
   * gets it as OPERATOR_SCOPE.
   */
  readonly operatorScope: string;
  /**
   * Days usage records are kept after their period ends (what an invoice line's record listing can
   * show; docs/usage-metering.md, "Retention"). Every Lambda gets it as USAGE_RECORD_RETENTION_DAYS.
   */
  readonly usageRecordRetentionDays: number;
  /**
   * The seller as invoice PDFs and hosted pages print it: name, address, tax id, one string per line
   * (`["Example GmbH", "Hauptstraße 1, 10115 Berlin", "VAT ID DE123456789"]`). Handed to the document
   * handlers as INVOICE_ISSUER. None: invoices print no seller block.
   */
  readonly invoiceIssuer: readonly string[];
};

/** Reads one context value (e.g. `app.node.tryGetContext`). */
export type ContextReader = (key: string) => unknown;

export class StageConfigError extends Error {
  override readonly name = 'StageConfigError';
}

export const DEFAULT_STAGE = 'dev';
/** The one stage whose stateful resources are destroyed with its stack. */
export const DISPOSABLE_STAGE = 'dev';

/** Keys a stage block (or the command line) may set. */
export const STAGE_KEYS = [
  'jwtIssuer',
  'jwtAudience',
  'logRetentionDays',
  'alarmEmail',
  'apiThrottleRateLimit',
  'apiThrottleBurstLimit',
  'tenantClaim',
  'operatorScope',
  'usageRecordRetentionDays',
  'invoiceIssuer',
] as const;
type StageKey = (typeof STAGE_KEYS)[number];

/** Lower-case, starts with a letter, at most 20 characters: it goes into table, bus and secret names. */
const STAGE_NAME = /^[a-z][a-z0-9-]{0,19}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
/**
 * A claim name as identity providers write them: `tenant_id`, Cognito's `custom:tenant_id`, an Auth0
 * namespaced `https://billing.example/tenant_id`. No spaces or quotes, at most 256 characters.
 */
const CLAIM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:/#~-]{0,255}$/;
/**
 * Registered claims that say something else about a token (who issued it, for whom, when, with which
 * scopes): taken as the tenant claim, they would make tenants of issuers, audiences or scope strings.
 */
const NOT_TENANT_CLAIMS = new Set(['iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'scope', 'scp', 'token_use']);
/** An OAuth 2.0 scope token (RFC 6749, section 3.3): printable ASCII except space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/**
 * Scopes the routes require (shared/http/routes.ts): tenant tokens carry them, so none of them may be
 * what marks an operator.
 */
const ROUTE_SCOPES = new Set(ROUTES.flatMap((route) => route.scopes));
const RETENTION_VALUES = new Set<number>(
  Object.values(RetentionDays).filter((value): value is number => typeof value === 'number'),
);

const DEFAULTS = {
  logRetentionDays: { disposable: RetentionDays.ONE_WEEK, retained: RetentionDays.THREE_MONTHS },
  apiThrottleRateLimit: 100,
  apiThrottleBurstLimit: 200,
  tenantClaim: DEFAULT_TENANT_CLAIM,
  operatorScope: DEFAULT_OPERATOR_SCOPE,
  usageRecordRetentionDays: DEFAULT_USAGE_RECORD_RETENTION_DAYS,
} as const;

export function resolveStageConfig(read: ContextReader): StageConfig {
  const problems: string[] = [];

  const rawStage = read('stage') ?? DEFAULT_STAGE;
  if (typeof rawStage !== 'string' || !STAGE_NAME.test(rawStage)) {
    throw new StageConfigError(
      `Invalid stage name ${JSON.stringify(rawStage)}: use -c stage=<name> with a lower-case name that ` +
        'starts with a letter and has at most 20 letters, digits or hyphens (e.g. dev, staging, prod).',
    );
  }
  const stage = rawStage;
  const block = stageBlock(read('stages'), stage, problems);
  const pick = (key: StageKey): unknown => read(key) ?? block[key];
  const where = (key: StageKey) => `-c ${key}=... or context.stages.${stage}.${key} in cdk.json`;

  const jwtIssuer = pick('jwtIssuer');
  if (jwtIssuer === undefined) {
    problems.push(`jwtIssuer is required: set ${where('jwtIssuer')} (the OIDC issuer URL, https://...)`);
  } else if (typeof jwtIssuer !== 'string' || !isHttpsUrl(jwtIssuer)) {
    problems.push(`jwtIssuer must be an https:// URL, got ${JSON.stringify(jwtIssuer)}`);
  }

  const jwtAudience = audienceList(pick('jwtAudience'));
  if (jwtAudience === undefined) {
    problems.push(
      `jwtAudience is required: set ${where('jwtAudience')} (a JSON array, or a comma-separated list on the command line)`,
    );
  } else if (jwtAudience.length === 0 || jwtAudience.some((aud) => aud === '')) {
    problems.push('jwtAudience must list at least one non-empty audience');
  }

  const retainData = stage !== DISPOSABLE_STAGE;
  const logRetention = integer(
    pick('logRetentionDays'),
    retainData ? DEFAULTS.logRetentionDays.retained : DEFAULTS.logRetentionDays.disposable,
  );
  if (logRetention === undefined || !RETENTION_VALUES.has(logRetention)) {
    problems.push(
      `logRetentionDays must be one of CloudWatch Logs' retention periods (${[...RETENTION_VALUES].sort((a, b) => a - b).join(', ')}), ` +
        `got ${JSON.stringify(pick('logRetentionDays'))}`,
    );
  }

  const alarmEmail = pick('alarmEmail');
  if (alarmEmail !== undefined && (typeof alarmEmail !== 'string' || !EMAIL.test(alarmEmail))) {
    problems.push(`alarmEmail must be an e-mail address, got ${JSON.stringify(alarmEmail)}`);
  }

  // The seller every invoice prints. A list in cdk.json; on the command line, lines joined by "|".
  const issuerSetting = pick('invoiceIssuer');
  const invoiceIssuer = issuerLinesOf(issuerSetting);
  if (
    !Array.isArray(invoiceIssuer) ||
    invoiceIssuer.length > 8 ||
    invoiceIssuer.some(
      (line) => typeof line !== 'string' || line.trim() === '' || line.length > 200 || /[\r\n|]/.test(line),
    )
  ) {
    problems.push(
      `invoiceIssuer must be a list of at most 8 non-empty lines (each at most 200 characters, without "|" or a line break), got ${JSON.stringify(issuerSetting)}`,
    );
  } else if (invoiceIssuer.length === 0 && stage !== DISPOSABLE_STAGE) {
    // A PDF is kept as issued: one stored without its seller cannot be corrected afterwards.
    problems.push(
      `invoiceIssuer is required: set ${where('invoiceIssuer')} (the seller's name, address and tax id as invoices print them, e.g. -c 'invoiceIssuer=Example GmbH|Hauptstraße 1, 10115 Berlin|VAT ID DE123456789')`,
    );
  }

  const rateLimit = integer(pick('apiThrottleRateLimit'), DEFAULTS.apiThrottleRateLimit);
  const burstLimit = integer(pick('apiThrottleBurstLimit'), DEFAULTS.apiThrottleBurstLimit);
  for (const [key, value] of [
    ['apiThrottleRateLimit', rateLimit],
    ['apiThrottleBurstLimit', burstLimit],
  ] as const) {
    if (value === undefined || value <= 0) {
      problems.push(`${key} must be a positive integer, got ${JSON.stringify(pick(key))}`);
    }
  }

  const tenantClaim = pick('tenantClaim') ?? DEFAULTS.tenantClaim;
  if (typeof tenantClaim !== 'string' || !CLAIM_NAME.test(tenantClaim)) {
    problems.push(
      'tenantClaim must be a JWT claim name without spaces or quotes, such as tenant_id, custom:tenant_id ' +
        `or https://billing.example/tenant_id, got ${JSON.stringify(tenantClaim)}`,
    );
  } else if (NOT_TENANT_CLAIMS.has(tenantClaim)) {
    problems.push(
      `tenantClaim cannot be the registered claim ${tenantClaim}: it does not name a tenant ` +
        `(nor do ${[...NOT_TENANT_CLAIMS].join(', ')})`,
    );
  }

  const operatorScope = pick('operatorScope') ?? DEFAULTS.operatorScope;
  if (typeof operatorScope !== 'string' || !SCOPE_TOKEN.test(operatorScope)) {
    problems.push(
      'operatorScope must be one OAuth scope (no spaces, quotes or backslashes), such as billing:operator, ' +
        `got ${JSON.stringify(operatorScope)}`,
    );
  } else if (ROUTE_SCOPES.has(operatorScope)) {
    problems.push(
      `operatorScope cannot be ${operatorScope}: routes require that scope, so tenant tokens carry it ` +
        'and every one of them would count as an operator',
    );
  }

  const usageRecordRetentionDays = integer(
    pick('usageRecordRetentionDays'),
    DEFAULTS.usageRecordRetentionDays,
  );
  if (usageRecordRetentionDays === undefined || usageRecordRetentionDays < MIN_USAGE_RECORD_RETENTION_DAYS) {
    problems.push(
      `usageRecordRetentionDays must be a whole number of days, at least ${MIN_USAGE_RECORD_RETENTION_DAYS} ` +
        `(records prove exactly-once counting that long), got ${JSON.stringify(pick('usageRecordRetentionDays'))}`,
    );
  }

  if (problems.length > 0) {
    throw new StageConfigError(
      `Invalid configuration for stage "${stage}":\n${problems.map((p) => `  - ${p}`).join('\n')}\n` +
        'See infra/README.md for the configuration keys.',
    );
  }

  return {
    stage,
    jwtIssuer: jwtIssuer as string,
    jwtAudience: jwtAudience as string[],
    retainData,
    deletionProtection: retainData,
    removalPolicy: retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    logRetention: logRetention as RetentionDays,
    alarmEmail: alarmEmail as string | undefined,
    apiThrottle: { rateLimit: rateLimit as number, burstLimit: burstLimit as number },
    tenantClaim: tenantClaim as string,
    operatorScope: operatorScope as string,
    usageRecordRetentionDays: usageRecordRetentionDays as number,
    invoiceIssuer: invoiceIssuer as string[],
  };
}

function stageBlock(stages: unknown, stage: string, problems: string[]): Partial<Record<StageKey, unknown>> {
  if (stages === undefined) return {};
  if (!isRecord(stages)) {
    problems.push('context "stages" must be an object of per-stage blocks');
    return {};
  }
  const block = stages[stage];
  if (block === undefined) return {};
  if (!isRecord(block)) {
    problems.push(`context "stages.${stage}" must be an object`);
    return {};
  }
  const unknown = Object.keys(block).filter((key) => !(STAGE_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    problems.push(
      `context "stages.${stage}" has unknown key(s) ${unknown.join(', ')} (known: ${STAGE_KEYS.join(', ')})`,
    );
  }
  return block;
}

/** An array from cdk.json, or a string from the command line: a JSON array or a comma-separated list. */
function audienceList(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') {
    const text = value.trim();
    if (text.startsWith('[')) {
      try {
        return audienceList(JSON.parse(text));
      } catch {
        return [''];
      }
    }
    return text.split(',').map((aud) => aud.trim());
  }
  if (Array.isArray(value)) return value.map((aud) => (typeof aud === 'string' ? aud.trim() : ''));
  return [''];
}

/** A number from cdk.json or a numeric string from the command line; undefined when not an integer. */
function integer(value: unknown, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof parsed === 'number' && Number.isInteger(parsed) ? parsed : undefined;
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * invoiceIssuer as given: a list (cdk.json), or on the command line a JSON list (`'["A","B"]'`, as
 * jwtAudience takes) or lines joined by "|". Anything else is returned as it is, for the check to refuse.
 */
function issuerLinesOf(setting: unknown): unknown {
  if (typeof setting !== 'string') return setting ?? [];
  if (setting.trim().startsWith('[')) {
    try {
      return JSON.parse(setting) as unknown;
    } catch {
      return setting;
    }
  }
  return setting.split('|').map((line) => line.trim());
}
