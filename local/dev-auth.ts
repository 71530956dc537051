import type { webcrypto } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { DEFAULT_OPERATOR_SCOPE, DEFAULT_TENANT_CLAIM } from '../shared/config.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';

/**
 * Local stand-in for the identity provider behind API Gateway's JWT authorizer: an ES256 key pair
 * kept beside the local data, tokens minted by `npm run token`, verified by the local server with
 * the same issuer/audience/expiry rules the AWS authorizer applies.
 */
export const LOCAL_ISSUER = 'https://billing.local/issuer';
export const LOCAL_AUDIENCE = 'billing-api';

type StoredKeyPair = { privateJwk: JWK; publicJwk: JWK };

export type DevKeys = { privateKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey };

export async function loadOrCreateDevKeys(keyFile: string): Promise<DevKeys> {
  let stored = readJsonFile<StoredKeyPair>(keyFile);
  if (!stored) {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    stored = { privateJwk: await exportJWK(privateKey), publicJwk: await exportJWK(publicKey) };
    mkdirSync(dirname(keyFile), { recursive: true });
    // Like every local state file: a kill during the first start never leaves half a key behind.
    writeFileAtomic(keyFile, JSON.stringify(stored), 0o600);
  }
  return {
    privateKey: (await importJWK(stored.privateJwk, 'ES256')) as webcrypto.CryptoKey,
    publicKey: (await importJWK(stored.publicJwk, 'ES256')) as webcrypto.CryptoKey,
  };
}

export type TokenRequest = {
  scopes: readonly string[];
  /** The tenant the token is confined to; without one the token is an operator's (see `operator`). */
  tenantId?: string | undefined;
  /**
   * A token without a tenant gets the operator scope (what `npm run token` without `--tenant` mints);
   * `false` leaves it out, for tests of a token that is neither.
   */
  operator?: boolean | undefined;
  /** Claims set as given, over the ones above (tests of malformed claims). */
  claims?: Record<string, unknown> | undefined;
  subject?: string | undefined;
  expiresInSeconds?: number | undefined;
  /** For tests of the authorizer: override issuer/audience. */
  issuer?: string | undefined;
  audience?: string | undefined;
};

export async function mintDevToken(keys: DevKeys, request: TokenRequest): Promise<string> {
  const operator = request.tenantId === undefined && request.operator !== false;
  const scopes = operator ? [...new Set([...request.scopes, DEFAULT_OPERATOR_SCOPE])] : request.scopes;
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    scope: scopes.join(' '),
    ...(request.tenantId !== undefined ? { [DEFAULT_TENANT_CLAIM]: request.tenantId } : {}),
    sub: request.subject ?? (request.tenantId ? `tenant-user-${request.tenantId}` : 'local-operator'),
    iss: request.issuer ?? LOCAL_ISSUER,
    aud: request.audience ?? LOCAL_AUDIENCE,
    iat: now,
    exp: now + (request.expiresInSeconds ?? 3600),
    ...request.claims,
  };
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(keys.privateKey);
}

export type VerifiedClaims = Record<string, string | number | boolean | string[]>;

/**
 * Checks a token as API Gateway's JWT authorizer does (docs: "Control access to HTTP APIs with JWT
 * authorizers"): signature and algorithm; `iss`; `aud`, or `client_id` when there is no `aud`; `exp`
 * present and after now; `nbf` and `iat`, when present, before now. Throws with the reason, worded
 * like the authorizer's `error_description`.
 */
export async function verifyDevToken(keys: DevKeys, token: string): Promise<VerifiedClaims> {
  const cached = verifiedTokens.get(keys)?.get(token);
  if (cached && cached.exp > Math.floor(Date.now() / 1000)) return cached.claims;
  const claims = await verifyOnce(keys, token);
  remember(keys, token, claims);
  return claims;
}

/**
 * Tokens already verified, per key pair, until they expire: a token's signature and claims do not
 * change, so the only check a repeat needs is `exp` (refused once `exp` is not after now, as jose
 * does). Only accepted tokens are kept, at most MAX_VERIFIED_TOKENS (the oldest go first), so junk
 * tokens cost a verification each and no memory.
 */
const verifiedTokens = new WeakMap<DevKeys, Map<string, { claims: VerifiedClaims; exp: number }>>();
export const MAX_VERIFIED_TOKENS = 10_000;

function remember(keys: DevKeys, token: string, claims: VerifiedClaims): void {
  const tokens = verifiedTokens.get(keys) ?? new Map<string, { claims: VerifiedClaims; exp: number }>();
  verifiedTokens.set(keys, tokens);
  if (tokens.size >= MAX_VERIFIED_TOKENS) tokens.delete(tokens.keys().next().value!);
  tokens.set(token, { claims, exp: Number(claims.exp) });
}

async function verifyOnce(keys: DevKeys, token: string): Promise<VerifiedClaims> {
  const { payload } = await jwtVerify(token, keys.publicKey, {
    issuer: LOCAL_ISSUER,
    algorithms: ['ES256'],
    requiredClaims: ['exp'],
  }).catch((error: Error) => {
    throw new Error(authorizerWording(error));
  });
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.iat === 'number' && payload.iat > now) throw new Error('the token is not valid yet');
  const audiences = payload.aud === undefined ? [] : [payload.aud].flat();
  const audienceOk =
    payload.aud === undefined ? payload.client_id === LOCAL_AUDIENCE : audiences.includes(LOCAL_AUDIENCE);
  if (!audienceOk) throw new Error('the token does not have a valid audience');
  return payload as VerifiedClaims;
}

function authorizerWording(error: Error & { code?: string; claim?: string }): string {
  if (error.code === 'ERR_JWT_EXPIRED') return 'the token has expired';
  if (error.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && error.claim === 'iss')
    return 'the token does not have a valid issuer';
  if (error.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && error.claim === 'exp')
    return 'the token does not have a valid exp';
  if (error.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && error.claim === 'nbf')
    return 'the token is not valid yet';
  return `the token is not valid: ${error.message}`;
}
