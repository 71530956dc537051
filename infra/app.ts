/**
 * CDK entry point (cdk.json runs `node esbuild.config.mjs` first, then this file):
 * `npx cdk synth|deploy -c stage=<name> [-c jwtIssuer=... -c jwtAudience=...]`.
 * One app invocation builds one stage's stack, `Billing-<stage>`, so stages deploy side by side.
 */
import { App } from 'aws-cdk-lib';
import { BillingStack, billingStackName } from './billing-stack.ts';
import { addComplianceChecks } from './compliance.ts';
import { resolveStageConfig, type StageConfig, StageConfigError } from './stage-config.ts';

const app = new App();

let config: StageConfig;
try {
  config = resolveStageConfig((key) => app.node.tryGetContext(key));
} catch (error) {
  if (!(error instanceof StageConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

/** Optional: synthesize from bundles elsewhere (CI artifacts, or a placeholder tree for template checks). */
const assetRoot: unknown = app.node.tryGetContext('functionsAssetRoot');

// Bound to an account/region only when the CLI resolved both (credentials present); env-agnostic
// otherwise, so `cdk synth` needs no AWS access.
const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;
const env = account && region ? { account, region } : undefined;

new BillingStack(app, billingStackName(config.stage), {
  stackName: billingStackName(config.stage),
  description: `Billing service (${config.stage}): HTTP API, single table, events, SmartGateway sync`,
  config,
  ...(typeof assetRoot === 'string' && assetRoot !== '' ? { assetRoot } : {}),
  ...(env ? { env } : {}),
  tags: { service: 'billing', stage: config.stage },
});

// cdk-nag (AwsSolutions, Serverless): an unacknowledged finding fails the synth; see infra/compliance.ts.
addComplianceChecks(app);

app.synth();
