import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { resolveStageConfig, StageConfigError } from '../../infra/stage-config.ts';
import { CDK_JSON } from './support.ts';

/** A context reader over plain values, like `app.node.tryGetContext` over cdk.json + `-c` flags. */
const reader =
  (context: Record<string, unknown>) =>
  (key: string): unknown =>
    context[key];
const withCdkJson = (overrides: Record<string, unknown>) => reader({ ...CDK_JSON.context, ...overrides });

function problemsOf(context: Record<string, unknown>): string {
  try {
    resolveStageConfig(reader(context));
  } catch (error) {
    expect(error).toBeInstanceOf(StageConfigError);
    return (error as Error).message;
  }
  throw new Error('expected resolveStageConfig to fail');
}

describe('resolveStageConfig', () => {
  it('defaults to the dev stage, whose issuer and audience come from cdk.json (so plain `cdk synth` works)', () => {
    const config = resolveStageConfig(withCdkJson({}));
    const dev = (CDK_JSON.context['stages'] as Record<string, Record<string, unknown>>)['dev'];
    expect(config.stage).toBe('dev');
    expect(config.jwtIssuer).toBe(dev?.['jwtIssuer']);
    expect(config.jwtAudience).toEqual(dev?.['jwtAudience']);
  });

  it('lets dev be destroyed: no deletion protection, DESTROY, short log retention', () => {
    const config = resolveStageConfig(withCdkJson({ stage: 'dev' }));
    expect(config.retainData).toBe(false);
    expect(config.deletionProtection).toBe(false);
    expect(config.removalPolicy).toBe(RemovalPolicy.DESTROY);
    expect(config.logRetention).toBe(RetentionDays.ONE_WEEK);
  });

  it.each(['prod', 'staging', 'qa'])(
    'keeps the data of every other stage (%s): protection on, RETAIN',
    (stage) => {
      const config = resolveStageConfig(
        reader({
          stage,
          jwtIssuer: 'https://id.example.com/',
          jwtAudience: 'api',
          invoiceIssuer: 'Example Ltd',
        }),
      );
      expect(config.retainData).toBe(true);
      expect(config.deletionProtection).toBe(true);
      expect(config.removalPolicy).toBe(RemovalPolicy.RETAIN);
      expect(config.logRetention).toBe(RetentionDays.THREE_MONTHS);
    },
  );

  it('prefers command-line values (-c key=value) over the stage block', () => {
    const config = resolveStageConfig(
      withCdkJson({ jwtIssuer: 'https://other.example.com/', jwtAudience: 'a, b', logRetentionDays: '30' }),
    );
    expect(config.jwtIssuer).toBe('https://other.example.com/');
    expect(config.jwtAudience).toEqual(['a', 'b']);
    expect(config.logRetention).toBe(RetentionDays.ONE_MONTH);
  });

  it('keeps usage records 400 days unless the stage says otherwise, and never less than 60', () => {
    expect(resolveStageConfig(withCdkJson({})).usageRecordRetentionDays).toBe(400);
    expect(
      resolveStageConfig(withCdkJson({ usageRecordRetentionDays: '730' })).usageRecordRetentionDays,
    ).toBe(730);
    expect(() => resolveStageConfig(withCdkJson({ usageRecordRetentionDays: 30 }))).toThrow(
      /usageRecordRetentionDays must be a whole number of days, at least 60/,
    );
  });

  it('reads the audience as a JSON array given on the command line', () => {
    const config = resolveStageConfig(withCdkJson({ jwtAudience: '["x","y"]' }));
    expect(config.jwtAudience).toEqual(['x', 'y']);
  });

  it('reads per-stage blocks, including throttling and the alarm e-mail', () => {
    const config = resolveStageConfig(
      reader({
        stage: 'prod',
        stages: {
          prod: {
            jwtIssuer: 'https://id.example.com/',
            jwtAudience: ['billing'],
            alarmEmail: 'ops@example.com',
            invoiceIssuer: ['Example Ltd'],
            apiThrottleRateLimit: 10,
            apiThrottleBurstLimit: 20,
          },
        },
      }),
    );
    expect(config.alarmEmail).toBe('ops@example.com');
    expect(config.apiThrottle).toEqual({ rateLimit: 10, burstLimit: 20 });
  });

  it('fails with every problem listed when a stage has no issuer or audience', () => {
    const message = problemsOf({ stage: 'prod' });
    expect(message).toContain('stage "prod"');
    expect(message).toContain('jwtIssuer is required');
    expect(message).toContain('invoiceIssuer is required');
    expect(message).toContain('jwtAudience is required');
    expect(message).toContain('context.stages.prod.jwtIssuer');
  });

  it.each([
    [{ jwtIssuer: 'http://id.example.com/' }, 'jwtIssuer must be an https:// URL'],
    [{ jwtIssuer: 'not a url' }, 'jwtIssuer must be an https:// URL'],
    [{ jwtAudience: '' }, 'jwtAudience must list at least one non-empty audience'],
    [{ jwtAudience: [] }, 'jwtAudience must list at least one non-empty audience'],
    [{ logRetentionDays: 8 }, 'logRetentionDays must be one of'],
    [{ logRetentionDays: 'week' }, 'logRetentionDays must be one of'],
    [{ alarmEmail: 'nobody' }, 'alarmEmail must be an e-mail address'],
    [{ apiThrottleRateLimit: 0 }, 'apiThrottleRateLimit must be a positive integer'],
    [{ apiThrottleBurstLimit: '1.5' }, 'apiThrottleBurstLimit must be a positive integer'],
    [{ stages: { dev: { jwtIsuer: 'https://typo.example.com/' } } }, 'unknown key(s) jwtIsuer'],
    [{ stages: [] }, 'context "stages" must be an object'],
  ])('rejects %j', (overrides, expected) => {
    expect(problemsOf({ ...CDK_JSON.context, ...overrides })).toContain(expected);
  });

  it.each(['Prod', '1st', 'a_b', 'x'.repeat(21), ''])('rejects the stage name %j', (stage) => {
    expect(problemsOf({ ...CDK_JSON.context, stage })).toContain('Invalid stage name');
  });
});

describe('tenancy settings', () => {
  it('default to the tenant_id claim and the billing:operator scope', () => {
    const config = resolveStageConfig(withCdkJson({}));
    expect(config.tenantClaim).toBe('tenant_id');
    expect(config.operatorScope).toBe('billing:operator');
  });

  it.each([
    'custom:tenant_id',
    'https://billing.example/tenant_id',
    'org_id',
    'https://billing.example/claims#tenant',
  ])('take the tenant claim %j from the command line', (tenantClaim) => {
    expect(resolveStageConfig(withCdkJson({ tenantClaim })).tenantClaim).toBe(tenantClaim);
  });

  it('are read from the stage block, and the command line wins over it', () => {
    const stages = {
      prod: {
        jwtIssuer: 'https://id.example.com/',
        jwtAudience: ['billing'],
        invoiceIssuer: ['Example Ltd', 'VAT ID XX1'],
        tenantClaim: 'custom:tenant_id',
        operatorScope: 'billing-api/operator',
      },
    };
    const fromBlock = resolveStageConfig(reader({ stage: 'prod', stages }));
    expect(fromBlock.tenantClaim).toBe('custom:tenant_id');
    expect(fromBlock.operatorScope).toBe('billing-api/operator');
    const fromCommandLine = resolveStageConfig(
      reader({ stage: 'prod', stages, tenantClaim: 'https://billing.example/tenant_id' }),
    );
    expect(fromCommandLine.tenantClaim).toBe('https://billing.example/tenant_id');
    expect(fromCommandLine.operatorScope).toBe('billing-api/operator');
  });

  it.each([
    [{ tenantClaim: '' }, 'tenantClaim must be a JWT claim name without spaces or quotes'],
    [{ tenantClaim: ' ' }, 'tenantClaim must be a JWT claim name'],
    [{ tenantClaim: 'tenant id' }, 'tenantClaim must be a JWT claim name'],
    [{ tenantClaim: '"tenant_id"' }, 'tenantClaim must be a JWT claim name'],
    [{ tenantClaim: 42 }, 'tenantClaim must be a JWT claim name'],
    [{ tenantClaim: 'x'.repeat(257) }, 'tenantClaim must be a JWT claim name'],
    [{ tenantClaim: 'scope' }, 'tenantClaim cannot be the registered claim scope'],
    [{ tenantClaim: 'aud' }, 'tenantClaim cannot be the registered claim aud'],
    [{ operatorScope: '' }, 'operatorScope must be one OAuth scope'],
    [{ operatorScope: 'billing:operator billing:admin' }, 'operatorScope must be one OAuth scope'],
    [{ operatorScope: ['billing:operator'] }, 'operatorScope must be one OAuth scope'],
    [
      { operatorScope: 'billing:customers:read' },
      'operatorScope cannot be billing:customers:read: routes require that scope',
    ],
  ])('refuses %j with a message naming the key', (overrides, expected) => {
    const message = problemsOf({ ...CDK_JSON.context, ...overrides });
    expect(message).toContain(expected);
    expect(message).toContain('Invalid configuration for stage "dev"');
  });

  it('lists both tenancy problems at once', () => {
    const message = problemsOf({ ...CDK_JSON.context, tenantClaim: 'tenant id', operatorScope: '' });
    expect(message).toContain('tenantClaim must be');
    expect(message).toContain('operatorScope must be');
  });
});
