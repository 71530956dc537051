import { parseArgs } from 'node:util';

/**
 * The command line of `npm start` (local/main.ts): its flags, the environment variables beside
 * them, and `--help`. The README's settings table lists the same settings; a unit test keeps the
 * two in step.
 */
export type StartSettings = {
  port: number;
  /** Unset: the runtime's default (`.local-data/` at the repository root). */
  dataDir: string | undefined;
  inMemory: boolean;
};

export type CommandLine = { help: true } | { help: false; settings: StartSettings };

/** A command line the service cannot run with; its message is one sentence saying what to do. */
export class UsageError extends Error {}

export const HELP = `Usage: npm start -- [options]    (or: npx tsx local/main.ts [options])

Runs the billing service locally: DynamoDB Local, the HTTP API, the stream and the event bus.

Options, each with the environment variable that also sets it (the option wins):
  --port <n>, PORT=<n>
      HTTP port on 127.0.0.1; 0 picks a free one (default 3000)
  --data-dir <dir>, BILLING_DATA_DIR=<dir>
      data folder: DynamoDB Local's files, stream checkpoints, the local clock and the
      dev signing key (default .local-data/ in the repository)
  --in-memory, BILLING_IN_MEMORY=1
      keep nothing on disk (the dev signing key still lives in the data folder)
  -h, --help
      print this and exit

Environment only:
  STRIPE_SECRET_KEY=sk_test_… STRIPE_WEBHOOK_SECRET=whsec_…
      use Stripe in test mode (otherwise payments stay offline)
  MAX_BODY_BYTES=<n>
      largest JSON body in bytes (default 65536)
  POWERTOOLS_METRICS_DISABLED=false
      print metrics (EMF lines)
  USAGE_RECORD_RETENTION_DAYS=<n>
      days usage records are kept after their period ends, at least 60 (default 400)

One service at a time may use a data folder (it holds data-folder/service.lock). Stop it with
Ctrl-C or \`kill <pid>\` (SIGTERM); DynamoDB Local stops with it.`;

const OPTIONS = {
  port: { type: 'string' },
  'data-dir': { type: 'string' },
  'in-memory': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const SEE_HELP = '`npm start -- --help` lists every option';

/** Reads the flags, then the environment for what they leave unset; throws a UsageError on the first problem. */
export function parseCommandLine(args: readonly string[], env: NodeJS.ProcessEnv): CommandLine {
  // Not strict: node's own errors (ERR_PARSE_ARGS_*) come with a stack trace and advice about
  // positionals; the tokens let each mistake be answered in one sentence instead.
  const { tokens } = parseArgs({
    args: [...args],
    options: OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  if (tokens.some((token) => token.kind === 'option' && token.name === 'help')) return { help: true };
  const values: { port?: string; 'data-dir'?: string; 'in-memory'?: boolean } = {};
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      throw new UsageError(`unexpected argument '${token.value}'; ${SEE_HELP}`);
    }
    const { name, rawName, value } = token;
    if (name !== 'port' && name !== 'data-dir' && name !== 'in-memory') {
      const guess = closest(name, Object.keys(OPTIONS));
      throw new UsageError(
        `unknown option ${rawName}${guess ? ` (did you mean --${guess}?)` : ''}; ${SEE_HELP}`,
      );
    }
    if (name === 'in-memory') {
      if (value !== undefined) throw new UsageError(`--in-memory takes no value; ${SEE_HELP}`);
      values[name] = true;
    } else {
      if (value === undefined || value === '') {
        throw new UsageError(
          `${rawName} needs a value, e.g. ${name === 'port' ? '--port 4000' : '--data-dir /tmp/billing'}`,
        );
      }
      values[name] = value;
    }
  }
  const port =
    values.port !== undefined
      ? portNumber(values.port, '--port')
      : env.PORT
        ? portNumber(env.PORT, 'PORT')
        : 3000;
  return {
    help: false,
    settings: {
      port,
      dataDir: values['data-dir'] ?? (env.BILLING_DATA_DIR || undefined),
      inMemory: values['in-memory'] ?? env.BILLING_IN_MEMORY === '1',
    },
  };
}

function portNumber(text: string, source: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new UsageError(
      `${source} must be a port number from 1 to 65535 (0 picks a free one), not '${text}'`,
    );
  }
  return port;
}

/** The known option nearest to a mistyped one (at most two edits away), for a "did you mean". */
function closest(name: string, known: string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const row = [i];
      for (let j = 1; j <= b.length; j++) {
        row[j] = Math.min(
          previous[j]! + 1,
          row[j - 1]! + 1,
          previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
        );
      }
      previous = row;
    }
    return previous[b.length]!;
  };
  const ranked = known.map((k) => ({ k, d: distance(name, k) })).sort((x, y) => x.d - y.d);
  return ranked[0] && ranked[0].d <= 2 ? ranked[0].k : undefined;
}
