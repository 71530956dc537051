import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../../local/dynamodb-local.ts';
import { type LocalObjectStore, startLocalObjectStore } from '../../../local/object-store.ts';
import { resetConfigCache } from '../../../shared/config.ts';
import { readDocument, resetDocumentsClient, storeDocumentOnce } from '../../../shared/store/documents.ts';

/** The local S3 twin, driven by the service's own S3 client (shared/store/documents.ts). */
const dir = mkdtempSync(join(tmpdir(), 'object-store-'));
let store: LocalObjectStore;

const pointAt = (endpoint: string) => {
  Object.assign(process.env, {
    TABLE_NAME: 'unused',
    DOCUMENTS_BUCKET: 'docs-test',
    S3_ENDPOINT: endpoint,
    AWS_REGION: LOCAL_AWS.region,
    AWS_ACCESS_KEY_ID: LOCAL_AWS.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_AWS.credentials.secretAccessKey,
  });
  resetConfigCache();
  resetDocumentsClient();
};

beforeAll(async () => {
  store = await startLocalObjectStore({ bucket: 'docs-test', directory: dir });
  pointAt(store.endpoint);
});
afterAll(async () => {
  await store?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the local object store', () => {
  it('keeps what PutObject stored, byte for byte, and answers a missing key as S3 does (NoSuchKey)', async () => {
    const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256);
    await storeDocumentOnce('invoices/in_1/A-0001.pdf', bytes, 'application/pdf');
    expect(Buffer.from((await readDocument('invoices/in_1/A-0001.pdf'))!).equals(Buffer.from(bytes))).toBe(
      true,
    );
    expect(await readDocument('invoices/in_1/missing.pdf')).toBeUndefined();
  });

  it('never replaces a stored object: a second put of the key (If-None-Match: *) keeps the first', async () => {
    await storeDocumentOnce('invoices/in_2/A-0002.pdf', Buffer.from('first'), 'application/pdf');
    await storeDocumentOnce('invoices/in_2/A-0002.pdf', Buffer.from('second'), 'application/pdf');
    expect(Buffer.from((await readDocument('invoices/in_2/A-0002.pdf'))!).toString()).toBe('first');
    const raw = await fetch(`${store.endpoint}/docs-test/invoices/in_2/A-0002.pdf`, {
      method: 'PUT',
      headers: { 'if-none-match': '*' },
      body: 'third',
    });
    expect(raw.status).toBe(412);
    expect(await raw.text()).toContain('<Code>PreconditionFailed</Code>');
  });

  it('refuses a streamed (aws-chunked) body, which it would otherwise keep with its framing', async () => {
    const raw = await fetch(`${store.endpoint}/docs-test/invoices/in_4/A-0004.pdf`, {
      method: 'PUT',
      headers: { 'content-encoding': 'aws-chunked' },
      body: '5\r\nhello\r\n0\r\n\r\n',
    });
    expect(raw.status).toBe(501);
    expect(await readDocument('invoices/in_4/A-0004.pdf')).toBeUndefined();
  });

  it('keeps objects across a restart over the same folder', async () => {
    await storeDocumentOnce('invoices/in_3/A-0003.pdf', Buffer.from('kept'), 'application/pdf');
    await store.stop();
    store = await startLocalObjectStore({ bucket: 'docs-test', directory: dir });
    pointAt(store.endpoint);
    expect(Buffer.from((await readDocument('invoices/in_3/A-0003.pdf'))!).toString()).toBe('kept');
  });

  it('writes nothing outside its folder, whatever the key, and serves no other bucket', async () => {
    for (const path of [
      '/docs-test/../escape.pdf',
      '/docs-test/%2E%2E/escape.pdf',
      '/docs-test/invoices/%2E%2E%2F%2E%2E%2Fescape.pdf',
      '/docs-test/a//b.pdf',
      '/docs-test/a%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fescape.pdf',
      '/docs-test/a%5C..%5C..%5Cescape.pdf',
      '/docs-test/',
      '/other-bucket/x.pdf',
    ]) {
      const response = await fetch(`${store.endpoint}${path}`, { method: 'PUT', body: 'x' });
      expect(response.status, path).toBeGreaterThanOrEqual(400);
    }
    expect(existsSync(join(dir, '..', 'escape.pdf'))).toBe(false);
    expect(readdirSync(dir)).toEqual(['docs-test']);
    // …nor reads anything outside it.
    const outside = await fetch(
      `${store.endpoint}/docs-test/a%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd`,
    );
    expect(outside.status).toBe(400);
    expect(await outside.text()).not.toContain('root:');
  });
});
