import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';

/**
 * cdk-nag's AwsSolutions and Serverless rule packs as CDK policy-validation plugins on the whole app
 * (cdk-nag v3): every finding that is neither fixed nor acknowledged fails `cdk synth` / `cdk deploy` with
 * a report of the rule (`AwsSolutions-<id>`, `Serverless-<id>`), the construct and why the rule exists
 * (and the tests, test/infra/cdk-nag.test.ts). AwsSolutions is mostly security (encryption, TLS, least
 * privilege); Serverless is delivery and operations (dead-letter queues and failure destinations,
 * memory, timeouts, tracing, log retention).
 *
 * Acknowledgements (`Validations.of(construct).acknowledge({ id, reason })`) live next to the construct that
 * causes the finding, each with its reason: infra/billing-functions.ts (runtime pin, X-Ray wildcard),
 * billing-stack.ts (table index wildcard, the close's failure destination), billing-api.ts (public
 * routes, synchronous API handlers), event-fanout.ts (ListStreams, the mapping's failure destination),
 * smart-gateway-sync.ts (the sync's failure destination), dead-letter-queue.ts (DLQs without a DLQ),
 * alarms.ts (the alarm e-mail), payments.ts (Stripe secret rotation). None is stack-wide.
 */
export function addComplianceChecks(app: App): void {
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app, { verbose: true }),
    new ServerlessChecks(app, { verbose: true }),
  );
}
