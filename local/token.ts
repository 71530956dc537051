import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadOrCreateDevKeys, mintDevToken } from './dev-auth.ts';
import { DEFAULT_DATA_DIR } from './runtime.ts';

/**
 * `npm run token -- --scope "a b" [--tenant <customer_id>] [--sub name] [--expires 3600]`. Without
 * `--tenant` the token is an operator's: it also carries the operator scope (billing:operator).
 */
const USAGE =
  'Usage: npm run token -- --scope "billing:customers:create billing:customers:read" [--tenant <customer_id>] [--sub <name>] [--expires <seconds>] [--data-dir <folder>]';

/** The options, or the usage line and exit 2 for an unknown one (never a stack trace). */
function options() {
  try {
    return parseArgs({
      options: {
        scope: { type: 'string', default: '' },
        tenant: { type: 'string' },
        sub: { type: 'string' },
        expires: { type: 'string', default: '3600' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const values = options();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const scopes = (values.scope ?? '').split(/[\s,]+/).filter(Boolean);
if (scopes.length === 0) {
  console.error(USAGE);
  process.exit(2);
}
if (values.tenant !== undefined && values.tenant.trim() === '') {
  console.error('--tenant needs a customer id (leave it out for an operator token)');
  process.exit(2);
}
const dataDir = values['data-dir'] ?? process.env.BILLING_DATA_DIR ?? DEFAULT_DATA_DIR;
const keys = await loadOrCreateDevKeys(join(dataDir, 'dev-jwt-key.json'));
console.log(
  await mintDevToken(keys, {
    scopes,
    tenantId: values.tenant,
    subject: values.sub,
    expiresInSeconds: Number(values.expires),
  }),
);
