import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mintDevToken } from '../../local/dev-auth.ts';
import { startLocalRuntime } from '../../local/runtime.ts';
import { SCOPES } from '../../shared/http/routes.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'billing-restart-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function call(url: string, token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return {
    status: response.status,
    body: (await response.json()) as { id: string } & Record<string, unknown>,
  };
}

describe('local data kept on disk', () => {
  it('a customer created before a restart is there after it, and its event is not published again', async () => {
    const first = await startLocalRuntime({ port: 0, dataDir, quiet: true });
    const token = await mintDevToken(first.keys, { scopes: [SCOPES.customersCreate, SCOPES.customersRead] });
    const created = await call(first.url, token, 'POST', '/api/v1/customers', {
      name: 'Kept',
      email: 'kept@acme.example',
    });
    expect(created.status).toBe(201);
    await first.settled();
    expect(first.bus.recent().filter((e) => e.detail_type === 'customer.created')).toHaveLength(1);
    await first.stop();

    const second = await startLocalRuntime({ port: 0, dataDir, quiet: true });
    try {
      // The signing key is kept too, so the token minted before the restart still verifies.
      const fetched = await call(second.url, token, 'GET', `/api/v1/customers/${created.body.id}`);
      expect(fetched).toEqual({ status: 200, body: created.body });
      await second.settled();
      expect(second.bus.recent()).toEqual([]);
    } finally {
      await second.stop();
    }
  });
});
