import { parseArgs } from 'node:util';
import { mintDevToken } from './dev-auth.ts';
import { DEFAULT_DATA_DIR, startLocalRuntime } from './runtime.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    'in-memory': { type: 'boolean', default: false },
  },
});

const port = Number(values.port ?? process.env.PORT ?? 3000);
const inMemory = values['in-memory'] || process.env.BILLING_IN_MEMORY === '1';
const runtime = await startLocalRuntime({
  port,
  dataDir: values['data-dir'] ?? process.env.BILLING_DATA_DIR ?? DEFAULT_DATA_DIR,
  inMemory,
}).catch((error: unknown) => {
  // One sentence saying what is wrong (each cause's message says what to do), never a stack trace.
  console.error(`The local service could not start: ${(error as Error).message}`);
  process.exit(1);
});

const exampleToken = await mintDevToken(runtime.keys, {
  scopes: ['billing:customers:create', 'billing:customers:read'],
});
console.log(`
Billing service (local) listening on ${runtime.url}
  data folder: ${runtime.inMemory ? '(in memory: nothing is kept)' : runtime.dataDir}
  OpenAPI:     ${runtime.url}/openapi.json
  SmartGateway view: ${runtime.url}/_local/budgets  ${runtime.url}/_local/events

Try it (a token valid for one hour; mint more with: npm run token -- --scope "billing:customers:read"):
  curl -s -X POST ${runtime.url}/api/v1/customers -H "Authorization: Bearer ${exampleToken}" -H 'Content-Type: application/json' -d '{"name":"Acme","email":"billing@acme.example"}'
`);

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping (DynamoDB Local included)…`);
  await runtime.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
