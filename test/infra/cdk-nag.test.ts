import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
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
 * that report.
 */

type Finding = { rule: string; severity: string; path: string };
type Acknowledgement = { path: string; id: string; reason: string };

type NagRun = {
  /** AwsSolutions findings left after acknowledgements: errors and warnings alike. */
  findings: Finding[];
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
    const findings = report.pluginReports
      .filter((plugin) => plugin.pluginName === 'AwsSolutions')
      .flatMap((plugin) => plugin.violations)
      .flatMap((violation) =>
        violation.violatingConstructs.map((construct) => ({
          rule: violation.ruleName,
          severity: violation.severity,
          path: construct.constructPath ?? '(unknown)',
        })),
      );
    return { run: { findings, error } satisfies NagRun, stack };
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
          id: id.replace(/^[A-Za-z-]+::(?=AwsSolutions-)/, ''),
          reason,
        })),
      ),
  );
}

const covers = (ack: { path: string; id: string }, finding: Finding) =>
  finding.rule === ack.id && (finding.path === ack.path || finding.path.startsWith(`${ack.path}/`));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('cdk-nag (AwsSolutions)', () => {
  it.each(STAGES)('%s synthesizes with no unacknowledged finding, error or warning', (stage, context) => {
    const { run } = runNag(stage, context);
    expect(run.findings.map((f) => `${f.severity} ${f.rule} at ${f.path}`)).toEqual([]);
    expect(run.error).toBeUndefined();
  });

  it('is live: a resource that breaks the rules fails synthesis', () => {
    const { run } = runNag('dev', {}, (stack) => {
      new sqs.Queue(stack, 'NonCompliantProbe');
    });
    expect(run.error?.message).toMatch(/AwsSolutions-SQS3/);
    expect(run.findings).toEqual(
      expect.arrayContaining([
        { rule: 'AwsSolutions-SQS3', severity: 'error', path: 'Billing-dev/NonCompliantProbe/Resource' },
        { rule: 'AwsSolutions-SQS4', severity: 'error', path: 'Billing-dev/NonCompliantProbe/Resource' },
      ]),
    );
  });

  // One stage suffices: prod differs from dev in removal policies and the e-mail subscription only.
  it('every acknowledgement silences a finding that really occurs, and every finding has one', () => {
    // Synthesize once more with acknowledgements turned into no-ops, to see what they silence.
    const recorded: { path: string; id: string }[] = [];
    vi.spyOn(Validations.prototype, 'acknowledge').mockImplementation(function (this: Validations, ...rules) {
      const scope = (this as unknown as { scope: IConstruct }).scope;
      for (const rule of rules) recorded.push({ path: scope.node.path, id: rule.id });
    });
    const { run } = runNag('dev', {});
    expect(recorded.length).toBeGreaterThan(0);
    const stale = recorded.filter((ack) => !run.findings.some((finding) => covers(ack, finding)));
    expect(stale, 'acknowledgements of findings that do not occur').toEqual([]);
    const unexplained = run.findings.filter((finding) => !recorded.some((ack) => covers(ack, finding)));
    expect(unexplained, 'findings without an acknowledgement').toEqual([]);
  });

  it('acknowledges on the construct that causes a finding, never stack-wide, each with a reason', () => {
    const work = mkdtempSync(join(tmpdir(), 'billing-nag-test-'));
    try {
      const { app, stack } = buildStage(work, 'dev');
      const acknowledgements = acknowledgementsOf(app);
      expect(acknowledgements.length).toBeGreaterThan(0);
      for (const ack of acknowledgements) {
        expect(ack.path, `${ack.id} at ${ack.path}`).not.toBe(stack.node.path);
        expect(ack.path.startsWith(`${stack.node.path}/`), ack.path).toBe(true);
        expect(ack.id, ack.path).toMatch(/^AwsSolutions-/);
        expect(ack.reason.length, `${ack.id} at ${ack.path}: ${ack.reason}`).toBeGreaterThanOrEqual(80);
      }
      // The rules acknowledged anywhere: a new one here is a new kind of exception, worth a review.
      expect([...new Set(acknowledgements.map((ack) => ack.id.replace(/\[.*$/, '')))].sort()).toEqual([
        'AwsSolutions-APIG4',
        'AwsSolutions-IAM5',
        'AwsSolutions-L1',
        'AwsSolutions-SMG4',
        'AwsSolutions-SQS3',
      ]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
