import type { webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';

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
  let stored: StoredKeyPair;
  if (existsSync(keyFile)) {
    stored = JSON.parse(readFileSync(keyFile, 'utf8')) as StoredKeyPair;
  } else {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    stored = { privateJwk: await exportJWK(privateKey), publicJwk: await exportJWK(publicKey) };
    mkdirSync(dirname(keyFile), { recursive: true });
    writeFileSync(keyFile, JSON.stringify(stored), { mode: 0o600 });
  }
  return {
    privateKey: (await importJWK(stored.privateJwk, 'ES256')) as webcrypto.CryptoKey,
    publicKey: (await importJWK(stored.publicJwk, 'ES256')) as webcrypto.CryptoKey,
  };
}

export type TokenRequest = {
  scopes: readonly string[];
  tenantId?: string | undefined;
  subject?: string | undefined;
  expiresInSeconds?: number | undefined;
  /** For tests of the authorizer: override issuer/audience. */
  issuer?: string | undefined;
  audience?: string | undefined;
};

export async function mintDevToken(keys: DevKeys, request: TokenRequest): Promise<string> {
  const jwt = new SignJWT({
    scope: request.scopes.join(' '),
    ...(request.tenantId ? { tenant_id: request.tenantId } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setSubject(request.subject ?? (request.tenantId ? `tenant-user-${request.tenantId}` : 'local-operator'))
    .setIssuer(request.issuer ?? LOCAL_ISSUER)
    .setAudience(request.audience ?? LOCAL_AUDIENCE)
    .setIssuedAt();
  const lifetime = request.expiresInSeconds ?? 3600;
  jwt.setExpirationTime(Math.floor(Date.now() / 1000) + lifetime);
  return jwt.sign(keys.privateKey);
}

export type VerifiedClaims = Record<string, string | number | boolean | string[]>;

/** Throws with a reason the caller can act on (expired, wrong audience, bad signature…). */
export async function verifyDevToken(keys: DevKeys, token: string): Promise<VerifiedClaims> {
  const { payload } = await jwtVerify(token, keys.publicKey, {
    issuer: LOCAL_ISSUER,
    audience: LOCAL_AUDIENCE,
    algorithms: ['ES256'],
  });
  return payload as VerifiedClaims;
}
