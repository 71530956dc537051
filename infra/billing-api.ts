import { Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ROUTES, type RouteDefinition } from '../shared/http/routes.ts';
import type { HandlerFunctions } from './billing-functions.ts';
import type { StageConfig } from './stage-config.ts';

/** Routes served only by the local runtime (`npm start`); they must never reach AWS. */
export const LOCAL_ONLY_PREFIX = '/_local';

/** One JSON object per request, from HTTP API `$context` variables (no tokens, no bodies). */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  latencyMs: '$context.responseLatency',
  integrationLatencyMs: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
};

/**
 * Why each route without an authorizer (`auth: 'none'` in ROUTES) may be public. A `none` route that is
 * missing here fails synthesis: making a route public is a decision with its reason written down, and the
 * reason is what the AwsSolutions-APIG4 (no authorization) acknowledgement of that route says.
 */
export const PUBLIC_ROUTE_REASONS: Readonly<Record<string, string>> = {
  'POST /webhooks/stripe':
    'Stripe cannot present a JWT or SigV4: the stripe-webhook handler verifies the Stripe-Signature HMAC ' +
    'over the raw body (5-minute tolerance) before anything reads it, and refuses every call while the ' +
    'stage secret holds no whsec_ signing secret.',
  'GET /hosted/invoices/{token}':
    'A hosted invoice page is opened by the customer, who has no API token: the link itself is the ' +
    'credential. Its token is 256 random bits, stored only as a SHA-256 hash, expires (30 days by default, ' +
    'at most 90), and opens one invoice read-only; an unknown or expired token answers 404 or 410 and ' +
    'names nothing. The page has no script and is sent with a CSP that forbids scripts and framing.',
  'GET /hosted/invoices/{token}/pdf':
    "The same link's PDF: the token is checked exactly as for the page, and the PDF is that one invoice's.",
  'GET /openapi.json':
    'The API description is public by design: it is generated from the request schemas, holds no data ' +
    'and no secrets, reaches no table, and clients read it before they have a token.',
};

/**
 * Why the API handlers need no Lambda dead-letter queue (Serverless-LambdaDLQ): Lambda's DeadLetterConfig
 * only ever receives asynchronous invocations, and API Gateway invokes these synchronously.
 */
const SYNCHRONOUS_HANDLER_REASON =
  'API Gateway invokes this function synchronously (Lambda proxy integration), so a failure is ' +
  'answered to the caller (a 5xx problem response, which the client may retry) and alarmed (the ' +
  "function's Errors, Api5xx); Lambda's DeadLetterConfig only receives asynchronous invocations, " +
  'which this function never gets.';

export type BillingApiProps = {
  readonly config: StageConfig;
  readonly functions: HandlerFunctions;
  /** Defaults to ROUTES from shared/http/routes.ts; a parameter only so tests can feed bad input. */
  readonly routes?: readonly RouteDefinition[];
};

/**
 * The HTTP API (payload format 2.0, so the Stripe webhook gets the raw body): one route per ROUTES
 * entry, each integrated with its handler's Lambda. `jwt` routes use the stage's JWT authorizer plus
 * the route's scopes, `iam` routes SigV4, `none` routes no authorizer (the handler authenticates).
 * A `$default` stage with auto-deploy, default throttling and JSON access logs.
 */
export class BillingApi extends Construct {
  readonly httpApi: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  /** Base URL of the `$default` stage, ending with `/`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: BillingApiProps) {
    super(scope, id);
    const { config, functions } = props;
    const routes = props.routes ?? ROUTES;
    const local = routes.filter((route) => route.path.startsWith(LOCAL_ONLY_PREFIX));
    if (local.length > 0) {
      throw new Error(
        `Local-only routes must not be deployed: ${local.map((r) => `${r.method} ${r.path}`).join(', ')}`,
      );
    }
    const unexplained = routes.filter(
      (route) => route.auth === 'none' && !PUBLIC_ROUTE_REASONS[`${route.method} ${route.path}`],
    );
    if (unexplained.length > 0) {
      throw new Error(
        `Routes without an authorizer need a reason in PUBLIC_ROUTE_REASONS (infra/billing-api.ts): ` +
          unexplained.map((r) => `${r.method} ${r.path}`).join(', '),
      );
    }

    this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
      apiName: `billing-${config.stage}`,
      description: `Billing service API (${config.stage})`,
      createDefaultStage: false,
    });
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: config.logRetention,
      removalPolicy: config.removalPolicy,
    });
    // No X-Ray on the stage: HTTP APIs (API Gateway v2) do not support X-Ray tracing, unlike REST APIs.
    // Traces start at the Lambda (active tracing); the access log's requestId is the request_id that
    // problem responses and handler error logs carry.
    this.stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: config.apiThrottle.rateLimit, burstLimit: config.apiThrottle.burstLimit },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    this.url = this.stage.url;

    const jwt = new HttpJwtAuthorizer('JwtAuthorizer', config.jwtIssuer, {
      authorizerName: `billing-${config.stage}-jwt`,
      jwtAudience: [...config.jwtAudience],
    });
    const iam = new HttpIamAuthorizer();
    const none = new apigw.HttpNoneAuthorizer();

    const acknowledged = new Set<string>();
    for (const route of routes) {
      const fn = functions.get(route.handler);
      if (!acknowledged.has(route.handler)) {
        acknowledged.add(route.handler);
        Validations.of(fn).acknowledge({ id: 'Serverless-LambdaDLQ', reason: SYNCHRONOUS_HANDLER_REASON });
      }
      const routeId = `${route.method}${route.path}`.replace(/[^A-Za-z0-9]+/g, '-');
      const httpRoute = new apigw.HttpRoute(this, routeId, {
        httpApi: this.httpApi,
        routeKey: apigw.HttpRouteKey.with(route.path, apigw.HttpMethod[route.method]),
        integration: new HttpLambdaIntegration(`${routeId}-integration`, fn, {
          payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
        }),
        ...(route.auth === 'jwt'
          ? { authorizer: jwt, authorizationScopes: [...route.scopes] }
          : { authorizer: route.auth === 'iam' ? iam : none }),
      });
      const publicReason =
        route.auth === 'none' ? PUBLIC_ROUTE_REASONS[`${route.method} ${route.path}`] : undefined;
      if (publicReason)
        Validations.of(httpRoute).acknowledge({ id: 'AwsSolutions-APIG4', reason: publicReason });
    }
  }
}
