import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain ESM build script without type declarations
import { buildFunctions, bundleFiles } from '../../esbuild.config.mjs';
import { pdfText } from '../support/pdf-text.ts';

type Metafile = { outputs: Record<string, { entryPoint?: string; inputs: Record<string, unknown> }> };

const outDir = mkdtempSync(join(tmpdir(), 'bundles-test-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('the Lambda bundles', () => {
  it('carry zod’s English messages and none of its other locales', async () => {
    const [built] = (await buildFunctions({ names: ['customers-create'], outDir, quiet: true })) as {
      metafile: Metafile;
    }[];
    const output = built!.metafile.outputs[bundleFiles(built!.metafile).entry];
    // Files read from zod's locales folder (the plugin's own stand-in for its index is not a file).
    const locales = Object.keys(output!.inputs).filter(
      (input) => !input.startsWith('english-only-zod:') && /zod\/v4\/locales\/[^/]+\.js$/.test(input),
    );
    expect(locales.map((path) => path.split('/').pop())).toEqual(['en.js']);

    // The bundle itself still answers a bad body with zod's English wording, naming the field.
    process.env.TABLE_NAME ??= 'bundle-test';
    const { handler } = (await import(pathToFileURL(join(outDir, 'customers-create', 'index.mjs')).href)) as {
      handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>;
    };
    const event = {
      rawPath: '/api/v1/customers',
      routeKey: 'POST /api/v1/customers',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 5, email: 'a@example.com' }),
      isBase64Encoded: false,
      requestContext: {
        requestId: 'bundle-test',
        http: { method: 'POST', path: '/api/v1/customers' },
        authorizer: { jwt: { claims: { sub: 'op', scope: 'billing:customers:create billing:operator' } } },
      },
    } as unknown as APIGatewayProxyEventV2;
    const response = (await handler(event, { functionName: 'customers-create' } as Context)) as {
      statusCode: number;
      body: string;
    };
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).errors).toEqual([
      { field: 'name', message: 'Invalid input: expected string, received number' },
    ]);
  }, 60_000);

  it('log stack traces in terms of the sources, reading the map only when a stack is formatted', () => {
    // A fresh process without --enable-source-maps, as the Lambda runs: an event without a request
    // context fails inside the bundle, and the 500's error log carries the stack.
    const bundle = pathToFileURL(join(outDir, 'customers-create', 'index.mjs')).href;
    const script =
      `const { handler } = await import(${JSON.stringify(bundle)});` +
      "await handler({ headers: null }, { functionName: 'customers-create' });";
    const { stdout, stderr } = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        TABLE_NAME: 'bundle-test',
        POWERTOOLS_LOG_LEVEL: 'ERROR',
      },
      encoding: 'utf8',
    });
    const failure = `${stdout}\n${stderr}`
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { message: string; error?: { stack?: string } })
      .find((entry) => entry.error?.stack);
    const frames = failure!.error!.stack!.split('\n').slice(1);
    expect(frames[0]).toMatch(/shared\/http\/[a-z-]+\.ts:\d+:\d+\)$/);
    expect(frames.filter((frame) => frame.includes('.mjs'))).toEqual([]);
  }, 60_000);

  it('parse the Stripe client and the X-Ray SDK only when first used, from chunks beside index.mjs', async () => {
    const [built] = (await buildFunctions({ names: ['customers-create'], outDir, quiet: true })) as {
      metafile: { outputs: Record<string, { inputs: Record<string, unknown> }> };
    }[];
    const { eager, lazy } = bundleFiles(built!.metafile) as { eager: string[]; lazy: string[] };
    const packagesOf = (files: string[]) =>
      files.flatMap((file) => Object.keys(built!.metafile.outputs[file]!.inputs)).join('\n');
    expect(packagesOf(eager)).not.toMatch(/node_modules\/(stripe|aws-xray-sdk-core)\//);
    expect(packagesOf(lazy)).toMatch(/node_modules\/stripe\//);
    expect(packagesOf(lazy)).toMatch(/node_modules\/aws-xray-sdk-core\//);

    // With a key, creating a customer loads the Stripe chunk, and a Stripe that does not answer is
    // still told apart from a bug (an error class shared across chunks): the customer is created
    // unlinked, which the bundle logs before it goes on to the store.
    const bundle = pathToFileURL(join(outDir, 'customers-create', 'index.mjs')).href;
    const event = {
      rawPath: '/api/v1/customers',
      routeKey: 'POST /api/v1/customers',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Ada', email: 'ada@example.com' }),
      isBase64Encoded: false,
      requestContext: {
        requestId: 'bundle-test',
        http: { method: 'POST', path: '/api/v1/customers' },
        authorizer: { jwt: { claims: { sub: 'op', scope: 'billing:customers:create billing:operator' } } },
      },
    };
    const script =
      `const { handler } = await import(${JSON.stringify(bundle)});` +
      `await handler(${JSON.stringify(event)}, { functionName: 'customers-create' });`;
    const { stdout, stderr } = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        TABLE_NAME: 'bundle-test',
        STRIPE_SECRET_KEY: 'sk_test_bundle',
        // Nothing listens on port 9 (discard): the client's connection fails at once.
        STRIPE_API_BASE: 'http://127.0.0.1:9',
        DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
        AWS_ACCESS_KEY_ID: 'bundle',
        AWS_SECRET_ACCESS_KEY: 'bundle',
        POWERTOOLS_LOG_LEVEL: 'WARN',
      },
      encoding: 'utf8',
      timeout: 50_000,
    });
    const messages = `${stdout}\n${stderr}`
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => (JSON.parse(line) as { message: string }).message);
    expect(messages).toContain(
      'Stripe did not answer; the customer is created unlinked and linked when first charged',
    );
  }, 60_000);

  it('render invoice PDFs from inside the bundle: fonts and font metrics embedded, no node_modules at run time', async () => {
    const pdfOut = join(outDir, 'pdf');
    await buildFunctions({
      names: [],
      outDir: pdfOut,
      quiet: true,
      extra: { render: fileURLToPath(new URL('../../shared/documents/invoice-pdf.ts', import.meta.url)) },
    });
    // A fresh process whose working folder and module folder have no node_modules (a Lambda's /var/task).
    const bundle = pathToFileURL(join(pdfOut, 'render', 'index.mjs')).href;
    const document = {
      number: 'B-0001',
      currency: 'EUR',
      issuer: ['Łódź Sp. z o.o.'],
      billTo: { name: 'Ελλάδα Москва', email: 'ap@example.com' },
      facts: [['Invoice number', 'B-0001']],
      lines: [{ description: 'Licence', period: '', quantity: '', unitPrice: '', amount: '1,234.56' }],
      totals: [{ label: 'Total', amount: '1,234.56', emphasis: true }],
    };
    const script =
      `const { renderInvoicePdf } = await import(${JSON.stringify(bundle)});` +
      `const pdf = await renderInvoicePdf(${JSON.stringify(document)}, '2026-12-01T00:00:00.000Z');` +
      'process.stdout.write(pdf.toString("base64"));';
    const { stdout, stderr, status } = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH, NODE_OPTIONS: '' },
      encoding: 'utf8',
      timeout: 50_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const { pages } = await pdfText(Buffer.from(stdout, 'base64'));
    expect(pages[0]).toEqual(
      expect.arrayContaining([
        'Łódź Sp. z o.o.',
        'Ελλάδα Москва',
        'Licence',
        '1,234.56',
        'B-0001 · page 1 of 1',
      ]),
    );
  }, 60_000);
});
