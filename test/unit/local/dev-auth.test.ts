import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadOrCreateDevKeys, mintDevToken, verifyDevToken } from '../../../local/dev-auth.ts';

vi.mock('jose', async (importOriginal) => {
  const original = await importOriginal<typeof import('jose')>();
  return { ...original, jwtVerify: vi.fn(original.jwtVerify) };
});
const generateDevKeys = () => loadOrCreateDevKeys(join(mkdtempSync(join(tmpdir(), 'dev-keys-')), 'key.json'));
const verifications = () => vi.mocked(jose.jwtVerify).mock.calls.length;

afterEach(() => {
  vi.useRealTimers();
  vi.mocked(jose.jwtVerify).mockClear();
});

describe('the local authorizer’s verified tokens', () => {
  it('verifies a token once and answers its repeats from what it verified', async () => {
    const keys = await generateDevKeys();
    const token = await mintDevToken(keys, { scopes: ['billing:customers:read'] });
    const first = await verifyDevToken(keys, token);
    for (let i = 0; i < 5; i++) expect(await verifyDevToken(keys, token)).toEqual(first);
    expect(verifications()).toBe(1);
  });

  it('still refuses a verified token once it has expired', async () => {
    const keys = await generateDevKeys();
    const token = await mintDevToken(keys, { scopes: [], expiresInSeconds: 60 });
    await verifyDevToken(keys, token);
    vi.useFakeTimers({ now: Date.now() + 61_000 });
    await expect(verifyDevToken(keys, token)).rejects.toThrow('the token has expired');
  });

  it('keeps nothing of a refused token, and nothing crosses between key pairs', async () => {
    const keys = await generateDevKeys();
    const other = await generateDevKeys();
    const forged = await mintDevToken(other, { scopes: [] });
    await expect(verifyDevToken(keys, forged)).rejects.toThrow();
    await expect(verifyDevToken(keys, forged)).rejects.toThrow();
    expect(verifications()).toBe(2);
    // A token of another key pair is verified against that pair: nothing crosses between them.
    await verifyDevToken(other, forged);
    await expect(verifyDevToken(keys, forged)).rejects.toThrow();
  });
});
