import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { BillingApi } from '../../infra/billing-api.ts';
import { BillingFunctions } from '../../infra/billing-functions.ts';
import { resolveStageConfig } from '../../infra/stage-config.ts';
import { ROUTES, type RouteDefinition } from '../../shared/http/routes.ts';
import {
  CDK_JSON,
  type CfnResource,
  functionId,
  ofType,
  only,
  placeholderAssets,
  refTarget,
  synthStage,
  TEST_AUDIENCE,
  TEST_ISSUER,
} from './support.ts';

const dev = synthStage('dev');
const { template } = dev;
const [apiId] = only(dev, 'AWS::ApiGatewayV2::Api');
const [authorizerId] = only(dev, 'AWS::ApiGatewayV2::Authorizer');
const routes = ofType(dev, 'AWS::ApiGatewayV2::Route').map(([, route]) => route);

function routeFor(definition: RouteDefinition): CfnResource {
  const key = `${definition.method} ${definition.path}`;
  const found = routes.filter((route) => route.Properties['RouteKey'] === key);
  expect(found, key).toHaveLength(1);
  return found[0] as CfnResource;
}

/** Route -> `integrations/<id>` target -> integration resource. */
function integrationOf(route: CfnResource): CfnResource {
  const join = (route.Properties['Target'] as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  const integrationId = refTarget(join[1][1]);
  const integration = dev.resources[integrationId ?? ''];
  if (!integration) throw new Error(`no integration for ${String(route.Properties['RouteKey'])}`);
  return integration;
}

describe('HTTP API', () => {
  it('is one HTTP API named with the stage', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { Name: 'billing-dev', ProtocolType: 'HTTP' });
  });

  it('has one route per ROUTES entry and no other', () => {
    expect(routes.map((route) => route.Properties['RouteKey']).sort()).toEqual(
      ROUTES.map((route) => `${route.method} ${route.path}`).sort(),
    );
  });

  it('has no local-only (/_local) route', () => {
    for (const route of routes) expect(String(route.Properties['RouteKey'])).not.toContain('/_local');
  });

  it('refuses to deploy a /_local route', () => {
    const work = mkdtempSync(join(tmpdir(), 'billing-api-test-'));
    try {
      const app = new App({ outdir: join(work, 'cdk.out') });
      const stack = new Stack(app, 'Probe');
      const config = resolveStageConfig((key) => ({ ...CDK_JSON.context, stage: 'dev' })[key]);
      const functions = new BillingFunctions(stack, 'Functions', {
        config,
        assetRoot: placeholderAssets(join(work, 'assets')),
        environment: {},
      });
      const local: RouteDefinition = {
        method: 'GET',
        path: '/_local/budgets',
        handler: 'openapi',
        auth: 'none',
        scopes: [],
        summary: 'local only',
      };
      expect(() => new BillingApi(stack, 'Api', { config, functions, routes: [...ROUTES, local] })).toThrow(
        /Local-only routes must not be deployed: GET \/_local\/budgets/,
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('JWT authorizer trusts the configured issuer and audience', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      ApiId: { Ref: apiId },
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: TEST_ISSUER, Audience: TEST_AUDIENCE },
    });
  });

  it.each(
    ROUTES.filter((route) => route.auth === 'jwt').map((route) => [`${route.method} ${route.path}`, route]),
  )('JWT route %s requires its scopes', (_, definition) => {
    expect(routeFor(definition).Properties).toMatchObject({
      AuthorizationType: 'JWT',
      AuthorizerId: { Ref: authorizerId },
      AuthorizationScopes: [...definition.scopes],
    });
    expect(definition.scopes.length).toBeGreaterThan(0);
  });

  it.each(
    ROUTES.filter((route) => route.auth === 'iam').map((route) => [`${route.method} ${route.path}`, route]),
  )('IAM route %s uses AWS_IAM (SigV4)', (_, definition) => {
    const route = routeFor(definition);
    expect(route.Properties['AuthorizationType']).toBe('AWS_IAM');
    expect(route.Properties).not.toHaveProperty('AuthorizerId');
  });

  it('the internal usage route (SmartGateway) is an IAM route', () => {
    expect(
      routeFor(ROUTES.find((r) => r.path === '/internal/v1/usage-records') as RouteDefinition).Properties,
    ).toMatchObject({
      AuthorizationType: 'AWS_IAM',
    });
  });

  it.each(
    ROUTES.filter((route) => route.auth === 'none').map((route) => [`${route.method} ${route.path}`, route]),
  )('route %s has no authorizer', (_, definition) => {
    const route = routeFor(definition);
    expect(route.Properties['AuthorizationType']).toBe('NONE');
    expect(route.Properties).not.toHaveProperty('AuthorizerId');
    expect(route.Properties).not.toHaveProperty('AuthorizationScopes');
  });

  it('the Stripe webhook is public (its handler verifies the signature)', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'POST /webhooks/stripe',
      AuthorizationType: 'NONE',
      AuthorizerId: Match.absent(),
    });
  });

  it.each(ROUTES.map((route) => [`${route.method} ${route.path}`, route]))(
    '%s integrates its handler Lambda with payload format 2.0 (raw body passes through)',
    (_, definition) => {
      const integration = integrationOf(routeFor(definition));
      expect(integration.Properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
      });
      expect(refTarget(integration.Properties['IntegrationUri'])).toBe(functionId(dev, definition.handler));
    },
  );

  it('lets API Gateway invoke each route Lambda', () => {
    for (const handler of new Set(ROUTES.map((route) => route.handler))) {
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [functionId(dev, handler), 'Arn'] },
      });
    }
  });

  it('auto-deploys a $default stage with default throttling and access logs', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('context.requestId'),
      },
    });
  });

  it('outputs the API URL', () => {
    expect(JSON.stringify(dev.outputs['ApiUrl']?.Value)).toContain(apiId);
  });
});
