/**
 * Synthesizes BillingStack for a stage the way `cdk synth` does (cdk.json's context and feature
 * flags, config through resolveStageConfig) but from a temporary tree of placeholder bundles, so the
 * infra tests need neither esbuild output nor AWS. Plus small readers for the resulting template.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { BillingStack, billingStackName } from '../../infra/billing-stack.ts';
import { resolveStageConfig } from '../../infra/stage-config.ts';
import { ALL_HANDLERS } from '../../shared/http/routes.ts';

type CdkJson = { context: Record<string, unknown> };
export const CDK_JSON = JSON.parse(
  readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
) as CdkJson;

export const TEST_ISSUER = 'https://issuer.test.example.com/';
export const TEST_AUDIENCE = ['billing-api-test', 'smartgateway'];
/** Every stage but dev needs the seller its invoices print (stage-config.ts). */
export const TEST_INVOICE_ISSUER = ['Billing Test Ltd', '1 Test Street, Testville', 'VAT ID XX123'];

export type CfnResource = {
  Type: string;
  Properties: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  DependsOn?: string[];
};

type TemplateJson = {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown }>;
  Parameters?: Record<string, unknown>;
};

/**
 * One stage's templates. `template` and `resources` are the stack and its nested stack (the API
 * handlers' Lambdas) read as one template: the nested stack's parameters replaced by what the parent
 * passes, and the parent's reads of the nested stack's outputs by what those outputs hold. So a check
 * of "this route invokes that Lambda" or "this role may read that table" reads the same either side of
 * the split. `stacks` are the templates as CloudFormation gets them, for checks of the split itself.
 */
export type Synthesized = {
  stack: BillingStack;
  template: Template;
  resources: Record<string, CfnResource>;
  outputs: Record<string, { Value: unknown }>;
  stacks: { parent: TemplateJson; apiFunctions: TemplateJson };
};

/** A directory with `<handler>/index.mjs` for every handler, as esbuild.config.mjs lays it out. */
export function placeholderAssets(root: string): string {
  for (const name of ALL_HANDLERS) {
    mkdirSync(join(root, name), { recursive: true });
    writeFileSync(
      join(root, name, 'index.mjs'),
      `export const handler = async () => ({ handler: '${name}' });\n`,
    );
  }
  return root;
}

/**
 * Synthesizes one stage. Context is cdk.json's, plus a test issuer/audience, plus `context`
 * (command-line style overrides win, as they do for `cdk synth -c key=value`).
 */
export function synthStage(stage: string, context: Record<string, unknown> = {}): Synthesized {
  const work = mkdtempSync(join(tmpdir(), 'billing-infra-test-'));
  try {
    const { stack } = buildStage(work, stage, context);
    const parent = Template.fromStack(stack).toJSON() as TemplateJson;
    const apiFunctions = Template.fromStack(stack.apiFunctionsStack).toJSON() as TemplateJson;
    const flat = flattened(parent, apiFunctions);
    return {
      stack,
      template: Template.fromJSON(flat),
      resources: flat.Resources,
      outputs: flat.Outputs ?? {},
      stacks: { parent, apiFunctions },
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The app and stack of one stage as `cdk synth` builds them, with placeholder bundles and the cloud
 * assembly under `work` (nothing synthesized yet).
 */
export function buildStage(
  work: string,
  stage: string,
  context: Record<string, unknown> = {},
): { app: App; stack: BillingStack } {
  const assetRoot = placeholderAssets(join(work, 'assets'));
  const app = new App({
    outdir: join(work, 'cdk.out'),
    context: {
      ...CDK_JSON.context,
      jwtIssuer: TEST_ISSUER,
      jwtAudience: TEST_AUDIENCE,
      invoiceIssuer: TEST_INVOICE_ISSUER,
      ...context,
      stage,
    },
  });
  const config = resolveStageConfig((key) => app.node.tryGetContext(key));
  const stack = new BillingStack(app, billingStackName(stage), {
    stackName: billingStackName(stage),
    config,
    assetRoot,
  });
  return { app, stack };
}

/** The parent and its one nested stack as one template (see Synthesized). */
function flattened(parent: TemplateJson, nested: TemplateJson): TemplateJson {
  const [nestedId, nestedResource, ...more] = Object.entries(parent.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::CloudFormation::Stack')
    .flat();
  if (more.length > 0 || typeof nestedId !== 'string') throw new Error('expected one nested stack');
  const passed = (nestedResource as CfnResource).Properties['Parameters'] as Record<string, unknown>;
  const replace = (value: unknown, swap: (node: Record<string, unknown>) => unknown): unknown => {
    if (Array.isArray(value)) return value.map((item) => replace(item, swap));
    if (typeof value !== 'object' || value === null) return value;
    const swapped = swap(value as Record<string, unknown>);
    if (swapped !== undefined) return swapped;
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, replace(item, swap)]));
  };
  const fromParent = replace(nested, (node) => {
    const ref = node['Ref'];
    return typeof ref === 'string' && ref in passed ? passed[ref] : undefined;
  }) as TemplateJson;
  const fromNested = replace(parent, (node) => {
    const getAtt = node['Fn::GetAtt'];
    if (!Array.isArray(getAtt) || getAtt[0] !== nestedId) return undefined;
    const output = String(getAtt[1]).replace(/^Outputs\./, '');
    return fromParent.Outputs?.[output]?.Value;
  }) as TemplateJson;
  return {
    ...fromNested,
    Resources: { ...fromNested.Resources, ...fromParent.Resources },
  };
}

/** Resources of one CloudFormation type, by logical id. */
export function ofType(synth: Synthesized, type: string): [string, CfnResource][] {
  return Object.entries(synth.resources).filter(([, resource]) => resource.Type === type);
}

/** The single resource of a type whose logical id starts with `prefix` (throws if not exactly one). */
export function only(synth: Synthesized, type: string, prefix = ''): [string, CfnResource] {
  const found = ofType(synth, type).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one ${type} "${prefix}*", found ${found.length}`);
  return found[0] as [string, CfnResource];
}

/** Logical id of the Lambda of one handler. */
export function functionId(synth: Synthesized, handler: string): string {
  const cfn = synth.stack.functions.get(handler).node.defaultChild as CfnFunction;
  return Stack.of(cfn).getLogicalId(cfn);
}

export function functionResource(synth: Synthesized, handler: string): CfnResource {
  const resource = synth.resources[functionId(synth, handler)];
  if (!resource) throw new Error(`no function resource for ${handler}`);
  return resource;
}

export function environmentOf(synth: Synthesized, handler: string): Record<string, unknown> {
  const env = functionResource(synth, handler).Properties['Environment'] as
    | { Variables: Record<string, unknown> }
    | undefined;
  return env?.Variables ?? {};
}

/** The logical id a `{ Ref }` or `{ Fn::GetAtt: [id, attr] }` points to (undefined for anything else). */
export function refTarget(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record['Ref'] === 'string') return record['Ref'];
  const getAtt = record['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  return undefined;
}

export type Statement = { actions: string[]; resources: unknown[]; effect: string; condition: unknown };

/** Every IAM statement attached to the execution role of one handler's Lambda. */
export function statementsOf(synth: Synthesized, handler: string): Statement[] {
  const roleId = refTarget(functionResource(synth, handler).Properties['Role']);
  return ofType(synth, 'AWS::IAM::Policy')
    .filter(([, policy]) =>
      (policy.Properties['Roles'] as unknown[]).some((role) => refTarget(role) === roleId),
    )
    .flatMap(([, policy]) => (policy.Properties['PolicyDocument'] as { Statement: unknown[] }).Statement)
    .map((raw) => {
      const statement = raw as {
        Action: string | string[];
        Resource: unknown;
        Effect: string;
        Condition?: unknown;
      };
      return {
        actions: ([] as string[]).concat(statement.Action),
        resources: ([] as unknown[]).concat(statement.Resource),
        effect: statement.Effect,
        condition: statement.Condition,
      };
    });
}

/** Logical ids of the resources an action is allowed on, for one handler (`*` for a wildcard). */
export function allowedTargets(synth: Synthesized, handler: string, action: string): string[] {
  const ids = statementsOf(synth, handler)
    .filter((s) => s.effect === 'Allow' && s.actions.includes(action))
    .flatMap((s) => s.resources.flatMap((r) => (r === '*' ? ['*'] : referencedIds(r))));
  return [...new Set(ids)].sort();
}

/** Logical ids referenced anywhere inside a value (Ref, GetAtt, also inside Fn::Join). */
export function referencedIds(value: unknown): string[] {
  const target = refTarget(value);
  if (target !== undefined) return [target];
  if (Array.isArray(value)) return value.flatMap(referencedIds);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(referencedIds);
  return [];
}
