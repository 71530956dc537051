import { resolve } from 'node:path';
import { type CommandLine, HELP, parseCommandLine, UsageError } from './cli.ts';
import { DataFolderInUse, dataFolderHolder } from './data-lock.ts';
import { listenProblem, portProblem } from './ports.ts';

let command: CommandLine;
try {
  command = parseCommandLine(process.argv.slice(2), process.env);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(error.message);
  process.exit(2);
}
if (command.help) {
  console.log(HELP);
  process.exit(0);
}

/** One sentence saying what is wrong (each cause's message says what to do), never a stack trace. */
const cannotStart = (problem: string): never => {
  console.error(`The local service could not start: ${problem}`);
  process.exit(1);
};

// Loaded only once the command line is known to be good: the runtime pulls in the AWS SDK and every
// handler's dependencies, a second that `--help` or a typo should not wait for.
const { mintDevToken } = await import('./dev-auth.ts');
const { DEFAULT_DATA_DIR, startLocalRuntime } = await import('./runtime.ts');

const { port, inMemory } = command.settings;
const dataDir = resolve(command.settings.dataDir ?? DEFAULT_DATA_DIR);
// What can be checked in milliseconds is checked before DynamoDB Local takes its seconds to start.
// The data folder first: a service already running on it likely holds the port too, and is the
// thing to say (the runtime takes the lock itself; this only looks).
const holder = inMemory ? undefined : dataFolderHolder(dataDir);
if (holder !== undefined) cannotStart(new DataFolderInUse(dataDir, holder).message);
const portInUse = await portProblem(port);
if (portInUse) cannotStart(portInUse);

const runtime = await startLocalRuntime({ port, dataDir, inMemory }).catch((error: unknown) =>
  // The port can still be taken while DynamoDB Local starts.
  cannotStart(listenProblem(error, port) ?? (error as Error).message),
);

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
// Ctrl-C, `kill <pid>` (of this process, of tsx or of npm: each passes it down) and a closed terminal.
// DynamoDB Local stops with the service; a watchdog ends it should the service end without stopping.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(signal, () => void shutdown(signal));
