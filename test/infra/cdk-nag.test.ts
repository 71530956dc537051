import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagRuleCompliance, rules } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BillingStack } from '../../infra/billing-stack.ts';
import { addComplianceChecks } from '../../infra/compliance.ts';
import { buildStage } from './support.ts';

/**
 * cdk-nag v3 runs as a CDK policy-validation plugin, not as an Aspect: its findings do not become
 * annotations (so `Annotations.fromStack(...).findError(...)` would see none) but go into the cloud
 * assembly's validation report, and any unacknowledged one fails synthesis. These tests synthesize the
 * stages the other infra tests use, through the same `addComplianceChecks` as infra/app.ts, and read
 * that report. Both packs report there, each under its own plugin name, with rule ids prefixed by it.
 */

/** The rule packs addComplianceChecks registers: plugin names, and the prefix of their rule ids. */
const PACKS = ['AwsSolutions', 'Serverless'];

type Finding = { rule: string; severity: string; path: string };
type Acknowledgement = { path: string; id: string; reason: string };

type NagRun = {
  /** Findings of both packs left after acknowledgements: errors and warnings alike. */
  findings: Finding[];
  /** Packs that reported a finding (a clean report lists none: a pack that did not run looks clean). */
  packs: string[];
  /** The synthesis error, if validation failed. */
  error: Error | undefined;
};

const STAGES: [string, Record<string, unknown>][] = [
  ['dev', {}],
  ['prod', { alarmEmail: 'billing-oncall@example.com' }],
];

function runNag(stage: string, context: Record<string, unknown>, extend?: (stack: BillingStack) => void) {
  const work = mkdtempSync(join(tmpdir(), 'billing-nag-test-'));
  try {
    const { app, stack } = buildStage(work, stage, context);
    extend?.(stack);
    addComplianceChecks(app);
    let error: Error | undefined;
    try {
      app.synth();
    } catch (thrown) {
      error = thrown as Error;
    }
    const report = JSON.parse(readFileSync(join(work, 'cdk.out', 'validation-report.json'), 'utf8')) as {
      pluginReports: {
        pluginName: string;
        violations: {
          ruleName: string;
          severity: string;
          violatingConstructs: { constructPath?: string }[];
        }[];
      }[];
    };
    const reports = report.pluginReports.filter((plugin) => PACKS.includes(plugin.pluginName));
    const findings = reports
      .flatMap((plugin) => plugin.violations)
      .flatMap((violation) =>
        violation.violatingConstructs.map((construct) => ({
          rule: violation.ruleName,
          severity: violation.severity,
          path: construct.constructPath ?? '(unknown)',
        })),
      );
    const packs = reports.map((plugin) => plugin.pluginName).sort();
    return { run: { findings, packs, error } satisfies NagRun, stack };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Every acknowledgement recorded on the tree (`Validations.of(x).acknowledge`), with its reason. */
function acknowledgementsOf(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          // Stored qualified (`Annotation::AwsSolutions-L1`); the rule id is what follows the first `::`.
          id: id.replace(/^[A-Za-z-]+::(?=(AwsSolutions|Serverless)-)/, ''),
          reason,
        })),
      ),
  );
}

const covers = (ack: { path: string; id: string }, finding: Finding) =>
  finding.rule === ack.id && (finding.path === ack.path || finding.path.startsWith(`${ack.path}/`));

/** Runs the checks with every acknowledgement turned into a no-op, recording what they would silence. */
function runNagUnacknowledged(stage: string, context: Record<string, unknown>) {
  const recorded: { path: string; id: string }[] = [];
  const spy = vi.spyOn(Validations.prototype, 'acknowledge').mockImplementation(function (
    this: Validations,
    ...acknowledged
  ) {
    const scope = (this as unknown as { scope: IConstruct }).scope;
    for (const rule of acknowledged) recorded.push({ path: scope.node.path, id: rule.id });
  });
  try {
    return { ...runNag(stage, context), recorded };
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('cdk-nag (AwsSolutions and Serverless)', () => {
  it.each(STAGES)(
    '%s synthesizes with no unacknowledged finding, error or warning, of either pack',
    (stage, context) => {
      // A clean run's report lists no plugin at all; that both packs ran is shown by the tests below.
      const { run } = runNag(stage, context);
      expect(run.findings.map((f) => `${f.severity} ${f.rule} at ${f.path}`)).toEqual([]);
      expect(run.error).toBeUndefined();
    },
  );

  it('is live: a resource that breaks the rules fails synthesis', () => {
    const { run } = runNag('dev', {}, (stack) => {
      new sqs.Queue(stack, 'NonCompliantProbe');
    });
    expect(run.error?.message).toMatch(/AwsSolutions-SQS3/);
    expect(run.findings).toEqual(
      expect.arrayContaining([
        { rule: 'AwsSolutions-SQS3', severity: 'error', path: 'Billing-dev/NonCompliantProbe/Resource' },
        { rule: 'AwsSolutions-SQS4', severity: 'error', path: 'Billing-dev/NonCompliantProbe/Resource' },
        {
          rule: 'Serverless-SQSRedrivePolicy',
          severity: 'error',
          path: 'Billing-dev/NonCompliantProbe/Resource',
        },
      ]),
    );
  });

  it('is live for the Serverless pack: a rule target without a dead-letter queue fails synthesis', () => {
    const { run } = runNag('dev', {}, (stack) => {
      new events.Rule(stack, 'ScheduleWithoutDlqProbe', {
        schedule: events.Schedule.rate(Duration.hours(1)),
        targets: [new targets.LambdaFunction(stack.functions.get('close-periods'))],
      });
    });
    expect(run.error?.message).toMatch(/Serverless-EventBusDLQ/);
    expect(run.findings).toEqual([
      {
        rule: 'Serverless-EventBusDLQ',
        severity: 'error',
        path: 'Billing-dev/ScheduleWithoutDlqProbe/Resource',
      },
    ]);
  });

  it('the period-close schedule meets Serverless-EventBusDLQ (its target has a DLQ), unacknowledged', () => {
    const { run, stack, recorded } = runNagUnacknowledged('dev', {});
    expect(run.findings.filter((finding) => finding.rule === 'Serverless-EventBusDLQ')).toEqual([]);
    expect(recorded.filter((ack) => ack.id.startsWith('Serverless-EventBusDLQ'))).toEqual([]);
    const schedule = stack.node.findChild('ClosePeriodsSchedule').node.defaultChild as events.CfnRule;
    expect(rules.eventbridge.EventBusDLQ(schedule)).toBe(NagRuleCompliance.COMPLIANT);
    const [target] = Stack.of(schedule).resolve(schedule.targets) as {
      deadLetterConfig?: { arn: unknown };
    }[];
    expect(target?.deadLetterConfig?.arn).toBeDefined();
  });

  it.each(STAGES)(
    '%s: every acknowledgement silences a finding that really occurs, and every finding has one',
    (stage, context) => {
      // Synthesize once more with acknowledgements turned into no-ops, to see what they silence.
      const { run, recorded } = runNagUnacknowledged(stage, context);
      expect(run.packs, 'both packs check the stack').toEqual(PACKS);
      expect(recorded.length).toBeGreaterThan(0);
      const stale = recorded.filter((ack) => !run.findings.some((finding) => covers(ack, finding)));
      expect(stale, 'acknowledgements of findings that do not occur').toEqual([]);
      const unexplained = run.findings.filter((finding) => !recorded.some((ack) => covers(ack, finding)));
      expect(unexplained, 'findings without an acknowledgement').toEqual([]);
    },
  );

  it('acknowledges on the construct that causes a finding, never stack-wide, each with a reason', () => {
    const work = mkdtempSync(join(tmpdir(), 'billing-nag-test-'));
    try {
      const { app, stack } = buildStage(work, 'dev');
      const acknowledgements = acknowledgementsOf(app);
      expect(acknowledgements.length).toBeGreaterThan(0);
      for (const ack of acknowledgements) {
        expect(ack.path, `${ack.id} at ${ack.path}`).not.toBe(stack.node.path);
        expect(ack.path.startsWith(`${stack.node.path}/`), ack.path).toBe(true);
        expect(ack.id, ack.path).toMatch(/^(AwsSolutions|Serverless)-/);
        expect(ack.reason.length, `${ack.id} at ${ack.path}: ${ack.reason}`).toBeGreaterThanOrEqual(80);
      }
      // The rules acknowledged anywhere: a new one here is a new kind of exception, worth a review.
      expect([...new Set(acknowledgements.map((ack) => ack.id.replace(/\[.*$/, '')))].sort()).toEqual([
        'AwsSolutions-APIG4',
        'AwsSolutions-IAM5',
        'AwsSolutions-L1',
        // The documents bucket's server access logs (infra/documents-bucket.ts says why not).
        'AwsSolutions-S1',
        'AwsSolutions-SMG4',
        'AwsSolutions-SQS3',
        'Serverless-LambdaDLQ',
        'Serverless-LambdaEventSourceMappingDestination',
        'Serverless-LambdaLatestVersion',
        'Serverless-SQSRedrivePolicy',
      ]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
