import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

/**
 * cdk-nag's AwsSolutions rule pack as a CDK policy-validation plugin on the whole app (cdk-nag v3): every
 * finding that is neither fixed nor acknowledged fails `cdk synth` / `cdk deploy` with a report of the rule,
 * the construct and why the rule exists (and the tests, test/infra/cdk-nag.test.ts).
 *
 * Acknowledgements (`Validations.of(construct).acknowledge({ id, reason })`) live next to the construct that
 * causes the finding, each with its reason: infra/billing-functions.ts (runtime pin, X-Ray wildcard),
 * billing-stack.ts (table index wildcard), event-fanout.ts (ListStreams), billing-api.ts (public routes),
 * dead-letter-queue.ts (DLQs without a DLQ), payments.ts (Stripe secret rotation). None is stack-wide.
 */
export function addComplianceChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}
