import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { tenancyConfig } from '../shared/config.ts';
import { scopesOf, tenantOf } from '../shared/http/auth.ts';
import { ROUTES, type RouteDefinition } from '../shared/http/routes.ts';
import { type DevKeys, verifyDevToken } from './dev-auth.ts';

/**
 * The local API Gateway: turns HTTP requests into API Gateway v2 (payload 2.0) events, applies the
 * authorizer each route has in AWS (JWT issuer/audience/expiry and route scopes; IAM routes accept
 * a dev token locally), and calls the same handler exports the Lambdas run.
 */
export type LambdaHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;

export type LocalRoute = { method: string; path: string; respond: (url: URL) => unknown };

/** A local route's answer with a status of its own (a 400 for a bad parameter); others answer 200. */
export class LocalAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

export type LocalApiOptions = {
  port: number;
  host?: string;
  keys: DevKeys;
  loadHandler: (name: string) => Promise<LambdaHandler>;
  /** Read-only local views (`/_local/...`); they never exist in AWS. */
  localRoutes: LocalRoute[];
  /** The time each request is stamped with (`requestContext.timeEpoch`); real time by default. */
  clock?: () => Date;
};

/** API Gateway HTTP APIs refuse payloads over 10 MB before any Lambda runs. */
const GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

type CompiledRoute = { route: RouteDefinition; pattern: RegExp; names: string[] };

export async function startLocalApi(options: LocalApiOptions): Promise<{ server: Server; url: string }> {
  const compiled = ROUTES.map(compile);
  const server = createServer((req, res) => {
    handle(req, res, compiled, options).catch((error) => {
      console.error('[api] unexpected local server error', error);
      if (!res.headersSent)
        send(res, 500, { 'content-type': 'application/json' }, '{"message":"Internal Server Error"}');
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return { server, url: `http://localhost:${port}` };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  routes: CompiledRoute[],
  options: LocalApiOptions,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = (req.method ?? 'GET').toUpperCase();

  const local = options.localRoutes.find((r) => r.method === method && r.path === url.pathname);
  if (local) {
    const refusal = crossSiteRefusal(req);
    if (refusal) {
      return send(
        res,
        403,
        { 'content-type': 'application/problem+json' },
        JSON.stringify({
          type: '/problems/forbidden',
          title: 'Cross-site request refused',
          status: 403,
          detail: refusal,
        }),
      );
    }
    const answer = await local.respond(url);
    const { status, body } = answer instanceof LocalAnswer ? answer : { status: 200, body: answer };
    const type = status >= 400 ? 'application/problem+json' : 'application/json';
    return send(res, status, { 'content-type': type }, JSON.stringify(body, null, 2));
  }

  const match = findRoute(routes, method, url.pathname);
  if (match === 'malformed') {
    // A path parameter whose percent-encoding does not decode (`%`, `%zz`, `%C0%AF`): refused by the
    // gateway, never handed to a Lambda.
    return send(res, 400, { 'content-type': 'application/json' }, '{"message":"Bad Request"}');
  }
  if (!match) return send(res, 404, { 'content-type': 'application/json' }, '{"message":"Not Found"}');

  const body = await readBody(req, GATEWAY_MAX_BODY_BYTES);
  if (body === 'too-large') {
    return send(res, 413, { 'content-type': 'application/json' }, '{"message":"Request Entity Too Large"}');
  }

  const authorizer = await authorize(match.route, req.headers.authorization, options.keys);
  if ('reject' in authorizer) {
    const { status, message, wwwAuthenticate } = authorizer.reject;
    return send(
      res,
      status,
      {
        'content-type': 'application/json',
        ...(wwwAuthenticate ? { 'www-authenticate': wwwAuthenticate } : {}),
      },
      JSON.stringify({ message }),
    );
  }

  const event = toApiGatewayEvent(req, url, match, body, authorizer.context, options.clock?.() ?? new Date());
  const handler = await options.loadHandler(match.route.handler);
  const result = await handler(event, lambdaContext(match.route.handler, event.requestContext.requestId));
  writeResult(res, result);
}

/**
 * The `/_local/*` routes take no token (the README's session calls them with plain curl), so they
 * answer only requests made on this machine, to this machine, by something other than a web page of
 * another site: the Host must be a loopback name (no DNS rebinding), and a browser's request must come
 * from this same origin (`Origin`, or `Sec-Fetch-Site` when a browser sends only that). Any page the
 * developer visits could otherwise POST /_local/close-periods and bill a year ahead.
 */
export function crossSiteRefusal(req: Pick<IncomingMessage, 'headers'>): string | undefined {
  const host = String(req.headers.host ?? '');
  const hostname = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (!LOOPBACK_NAMES.has(hostname.toLowerCase())) {
    return `The local routes answer only at localhost or 127.0.0.1, not at "${host}"`;
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) {
    return `The local routes answer no web page of another origin (${origin}); call them with curl or from ${`http://${host}`}`;
  }
  const site = req.headers['sec-fetch-site'];
  if (origin === undefined && site !== undefined && site !== 'same-origin' && site !== 'none') {
    return 'The local routes answer no cross-site request; call them with curl';
  }
  return undefined;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

function compile(route: RouteDefinition): CompiledRoute {
  const names: string[] = [];
  // Route paths contain only letters, '-', '/', '.', and {param}; '.' is the one regex character.
  const source = route.path.replace(/\./g, '\\.').replace(/\{(\w+)\}/g, (_match, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
}

function findRoute(routes: CompiledRoute[], method: string, path: string) {
  for (const compiled of routes) {
    if (compiled.route.method !== method) continue;
    const found = compiled.pattern.exec(path);
    if (!found) continue;
    try {
      const params = Object.fromEntries(
        compiled.names.map((name, i) => [name, decodeURIComponent(found[i + 1]!)]),
      );
      return { route: compiled.route, params };
    } catch {
      return 'malformed' as const;
    }
  }
  return undefined;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

type AuthorizerOutcome =
  | { context: Record<string, unknown> | undefined }
  | { reject: { status: number; message: string; wwwAuthenticate?: string } };

/**
 * What API Gateway's authorizers decide before the Lambda runs, and what they put on the event. The
 * JWT rules are the HTTP API JWT authorizer's (verifyDevToken): the identity source holds the token
 * alone or after `Bearer `; `scope` or `scp` carries the scopes, and a route's scopes need one of them;
 * refusals carry its `www-authenticate` header. One rule is this service's, applied here as in the
 * handler: a tenant claim that names no tenant (empty, blank, not a string) is an invalid token.
 */
async function authorize(
  route: RouteDefinition,
  header: string | undefined,
  keys: DevKeys,
): Promise<AuthorizerOutcome> {
  if (route.auth === 'none') return { context: undefined };
  const token = (header ?? '').trim().replace(/^Bearer\s+/i, '');
  const invalid = (description: string): AuthorizerOutcome => ({
    reject: {
      status: 401,
      message: 'Unauthorized',
      wwwAuthenticate: `Bearer scope="" error="invalid_token" error_description="${description}"`,
    },
  });
  if (!token) return invalid('the token is missing');
  let claims: Record<string, unknown>;
  try {
    claims = await verifyDevToken(keys, token);
  } catch (error) {
    return invalid((error as Error).message);
  }
  const { tenantClaim } = tenancyConfig();
  if (route.auth === 'iam') {
    // Locally a dev token stands in for SigV4; the handler sees the same IAM context shape. Only an
    // operator's token does: a tenant could never sign as the stage's services in AWS.
    if (Object.hasOwn(claims, tenantClaim)) return { reject: { status: 403, message: 'Forbidden' } };
    return { context: { iam: { userArn: `arn:aws:iam::000000000000:user/local-${String(claims.sub)}` } } };
  }
  try {
    tenantOf(claims, tenantClaim);
  } catch (error) {
    return invalid((error as Error).message);
  }
  const scopes = scopesOf(claims);
  if (route.scopes.length > 0 && !route.scopes.some((scope) => scopes.includes(scope))) {
    return {
      reject: {
        status: 403,
        message: 'Forbidden',
        wwwAuthenticate: `Bearer scope="${route.scopes.join(' ')}" error="insufficient_scope" error_description="the token does not have any of the route's scopes"`,
      },
    };
  }
  // API Gateway passes claims as strings (numbers and lists flattened).
  const flat = Object.fromEntries(
    Object.entries(claims).map(([k, v]) => [k, Array.isArray(v) ? `[${v.join(' ')}]` : String(v)]),
  );
  return { context: { jwt: { claims: flat, scopes: null } } };
}

const TEXT_TYPES =
  /^(application\/(?:[\w.+-]+\+)?json|text\/|application\/x-www-form-urlencoded|application\/xml)/i;

function toApiGatewayEvent(
  req: IncomingMessage,
  url: URL,
  match: { route: RouteDefinition; params: Record<string, string> },
  body: Buffer,
  authorizer: Record<string, unknown> | undefined,
  now: Date,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  // Any name is a parameter, `__proto__` and `constructor` included, as in API Gateway's JSON event.
  const query: Record<string, string> = Object.create(null);
  for (const [name, value] of url.searchParams)
    query[name] = Object.hasOwn(query, name) ? `${query[name]},${value}` : value;
  // As API Gateway adds it: how the caller reached the API (plain HTTP here), e.g. for links handed out.
  headers['x-forwarded-proto'] = 'http';
  const contentType = headers['content-type'] ?? '';
  // A body that is not UTF-8 cannot be handed over as a string without losing bytes: like any binary
  // payload it goes base64-encoded, whatever its content type says.
  const isText = body.length === 0 || (TEXT_TYPES.test(contentType) && isUtf8(body));
  const routeKey = `${match.route.method} ${match.route.path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(match.params).length > 0 ? { pathParameters: match.params } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: match.route.method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
      ...(authorizer ? { authorizer } : {}),
    } as APIGatewayProxyEventV2['requestContext'],
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: !isText,
  };
}

function lambdaContext(functionName: string, requestId: string): Context {
  const deadline = Date.now() + 30_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** API Gateway v2 semantics: a structured result is used as is; anything else is 200 JSON. */
function writeResult(res: ServerResponse, result: APIGatewayProxyResultV2): void {
  if (typeof result === 'object' && result !== null && 'statusCode' in result) {
    const body = result.body ?? '';
    const buffer = result.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
    send(res, result.statusCode ?? 200, { ...(result.headers ?? {}) }, buffer);
    return;
  }
  send(res, 200, { 'content-type': 'application/json' }, JSON.stringify(result));
}

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number | boolean>,
  body: string | Buffer,
): void {
  res.writeHead(status, { ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])) });
  res.end(body);
}
