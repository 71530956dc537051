import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrCreateDevKeys, mintDevToken } from '../../local/dev-auth.ts';
import { freePort } from '../../local/ports.ts';
import { SCOPES } from '../../shared/http/routes.ts';
import { type ServiceProcess, startService } from '../support/service-process.ts';

/**
 * Found from outside: the local stream poller saved its checkpoint once the in-memory bus had
 * accepted an event, before it was delivered, so a SIGKILL right after a pay lost `invoice.paid` for
 * good (3 of 8 runs) and left usage shard totals stale; the checkpoint file, written in place, was
 * left empty by 2 of 22 kills and `npm start` then failed.
 *
 * This test runs the real `npm start` in its own process group on one data folder, drives mixed load
 * over HTTP as a careful client would (usage batches, plan changes, period closes, finalize and pay,
 * each re-sent with its Idempotency-Key until it has a 2xx), SIGKILLs the whole group at random
 * moments, restarts it on the same folder, and then checks that nothing was lost or counted twice:
 * usage totals exact, every paid invoice and the latest subscription version on the budgets rows,
 * current_spend equal to the rated usage, nothing dead-lettered.
 *
 * CRASH_KILLS (default 5) sets the number of kills; CRASH_SEED the random sequence.
 */
const KILLS = Number(process.env.CRASH_KILLS ?? 5);
const DAY = 86_400_000;

/** A small seeded generator (mulberry32): the same seed, the same load and kill moments. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
// Printed first: a failure that throws mid-run must still say how to replay it.
console.log(`crash test seed ${seed} (CRASH_SEED=${seed} replays the load and kill moments)`);
const rand = random(seed);
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

const dataDir = mkdtempSync(join(tmpdir(), 'billing-crash-'));
let port = 0;
let service: ServiceProcess | undefined;
const stats = { kills: 0, requests: 0, resent: 0, records: 0, pays: 0, planChanges: 0, closes: 0 };

async function start(): Promise<void> {
  service = startService(['--port', String(port), '--data-dir', dataDir], {
    via: 'npm',
    detached: true, // its own process group: npm, tsx, node and DynamoDB Local
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR' },
  });
  await service.waitFor(/listening on/, 90_000);
}

async function killGroup(): Promise<void> {
  const running = service;
  if (!running?.child.pid) return;
  try {
    process.kill(-running.child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  await running.exited;
  service = undefined;
}

/** Sends until a 2xx, as a client that lost its answer would: same body, same Idempotency-Key. */
async function send(
  token: string,
  method: string,
  path: string,
  options: { body?: unknown; key?: string } = {},
  // biome-ignore lint/suspicious/noExplicitAny: the test reads response bodies field by field
): Promise<any> {
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) stats.resent++;
    stats.requests++;
    try {
      const response = await fetch(`http://localhost:${port}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.key ? { 'idempotency-key': options.key } : {}),
        },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await response.text();
      const body = text ? JSON.parse(text) : undefined;
      if (response.ok) return body;
      // A busy counter or a transaction conflict says "retry"; anything else is a real refusal.
      const retryable = response.status >= 500 || body?.type === '/problems/conflict';
      if (!retryable) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    } catch (error) {
      if ((error as Error).message.includes(' answered ')) throw error;
      // Connection refused or reset, or no answer: the service is down or being killed.
    }
    if (attempt > 600) throw new Error(`${method} ${path} never answered 2xx`);
    await sleep(250);
  }
}

/**
 * When a total is off, which records: the keys sent that no invoice line and no listing of the open
 * period holds, and the lines whose listed records do not add up to their quantity (counted and
 * listed apart, which only a transaction applied in part could do).
 */
async function missingRecords(
  token: string,
  subscriptions: { id: string; customerId: string }[],
  sentKeys: Map<string, Map<string, number>>,
): Promise<string[]> {
  const found: string[] = [];
  const listAll = async (path: string) => {
    const records: { idempotency_key: string; quantity: string }[] = [];
    let cursor: string | undefined;
    do {
      const page = await send(token, 'GET', `${path}?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      records.push(...page.data);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return records;
  };
  for (const subscription of subscriptions) {
    const listed = new Set<string>();
    const invoices = await send(
      token,
      'GET',
      `/api/v1/invoices?customer_id=${subscription.customerId}&limit=100`,
    );
    for (const invoice of invoices.data) {
      for (const line of invoice.lines.filter((l: { kind: string }) => l.kind === 'usage')) {
        const records = await listAll(`/api/v1/invoices/${invoice.id}/lines/${line.id}/usage-records`);
        const sum = records.reduce((total, r) => total + BigInt(r.quantity), 0n);
        if (sum !== BigInt(line.quantity))
          found.push(`${invoice.id} line ${line.id}: quantity ${line.quantity}, its records sum to ${sum}`);
        for (const r of records) listed.add(r.idempotency_key);
      }
    }
    for (const r of await listAll(`/api/v1/subscriptions/${subscription.id}/usage-records`))
      listed.add(r.idempotency_key);
    const missing = [...(sentKeys.get(subscription.id) ?? new Map()).keys()].filter(
      (key) => !listed.has(key),
    );
    if (missing.length > 0) found.push(`${subscription.id}: not listed anywhere: ${missing.join(' ')}`);
  }
  return found;
}

afterAll(async () => {
  await killGroup();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('nothing is lost across SIGKILLs of npm start', () => {
  it(`${KILLS} kills during usage, plan changes, closes and payments lose and double nothing`, async () => {
    port = await freePort();
    const keys = await loadOrCreateDevKeys(join(dataDir, 'dev-jwt-key.json'));
    const token = await mintDevToken(keys, { scopes: Object.values(SCOPES), expiresInSeconds: 3600 });
    await start();
    const post = (path: string, body: unknown, key: string) => send(token, 'POST', path, { body, key });

    // Two plans with a fee in arrears and a metered price on one metric, two customers.
    const product = await post('/api/v1/products', { name: 'Crash' }, 'product');
    const plans: string[] = [];
    for (const [name, fee, unit] of [
      ['Basic', 1000, '0.5'],
      ['Pro', 3000, '0.25'],
    ] as const) {
      const plan = await post(
        '/api/v1/plans',
        {
          product_id: product.id,
          name,
          currency: 'USD',
          interval: 'month',
          fee_timing: 'in_arrears',
          total_budget: 100_000,
        },
        `plan-${name}`,
      );
      await post('/api/v1/prices', { plan_id: plan.id, model: 'flat', unit_amount: fee }, `fee-${name}`);
      await post(
        '/api/v1/prices',
        { plan_id: plan.id, model: 'per_unit', metric: 'calls', unit_amount_decimal: unit },
        `calls-${name}`,
      );
      plans.push(plan.id);
    }
    const subscriptions: { id: string; customerId: string }[] = [];
    for (const name of ['A', 'B']) {
      const customer = await post(
        '/api/v1/customers',
        { name, email: `${name.toLowerCase()}@example.com` },
        `customer-${name}`,
      );
      const subscription = await post(
        '/api/v1/subscriptions',
        { customer_id: customer.id, plan_id: plans[0] },
        `subscription-${name}`,
      );
      subscriptions.push({ id: subscription.id, customerId: customer.id });
    }
    const clockStart = new Date((await send(token, 'POST', '/_local/close-periods')).at).getTime();

    // Kills at random moments, each after the service had been up for a while; every other one
    // right after a payment was answered (where the checkpoint used to run ahead of delivery).
    let killing = true;
    let killNow: (() => void) | undefined;
    const killer = (async () => {
      for (let k = 0; k < KILLS; k++) {
        if (k % 2 === 1) await new Promise<void>((done) => (killNow = done));
        else await sleep(1500 + rand() * 3000);
        killNow = undefined;
        await killGroup();
        stats.kills++;
        await start();
      }
      killing = false;
    })();

    const sent = new Map<string, bigint>(); // per subscription: quantity sent (each key once)
    const sentKeys = new Map<string, Map<string, number>>(); // per subscription: key → quantity
    const lastPaid = new Map<string, string>();
    for (let round = 0; round < 12 && (killing || round < 3); round++) {
      for (const subscription of subscriptions) {
        for (let batch = 0; batch < 3; batch++) {
          const records = Array.from({ length: 25 }, (_, i) => ({
            subscription_id: subscription.id,
            idempotency_key: `r${round}-b${batch}-${i}`,
            metric: 'calls',
            quantity: 1 + Math.floor(rand() * 1000),
          }));
          const answer = await post(
            '/api/v1/usage-records',
            { records },
            `usage-${subscription.id}-${round}-${batch}`,
          );
          expect(
            answer.rejected,
            JSON.stringify(answer.results.filter((r: { status: string }) => r.status === 'rejected')),
          ).toBe(0);
          const total = records.reduce((sum, record) => sum + BigInt(record.quantity), 0n);
          sent.set(subscription.id, (sent.get(subscription.id) ?? 0n) + total);
          const keys = sentKeys.get(subscription.id) ?? new Map<string, number>();
          for (const record of records) keys.set(record.idempotency_key, record.quantity);
          sentKeys.set(subscription.id, keys);
          stats.records += records.length;
        }
      }
      // A plan change on A (a PATCH: a careful client re-reads before re-sending).
      const a = subscriptions[0]!;
      const current = await send(token, 'GET', `/api/v1/subscriptions/${a.id}`);
      const target = current.plan_id === plans[0] ? plans[1]! : plans[0]!;
      for (;;) {
        const now = await send(token, 'GET', `/api/v1/subscriptions/${a.id}`);
        if (now.plan_id === target) break;
        try {
          await send(token, 'PATCH', `/api/v1/subscriptions/${a.id}`, { body: { plan_id: target } });
          break;
        } catch (error) {
          if (!/answered 409/.test((error as Error).message)) throw error;
        }
      }
      stats.planChanges++;
      // A period close at a fixed moment (so a re-send closes nothing twice), then finalize and pay.
      const at = new Date(clockStart + (round + 1) * 32 * DAY).toISOString();
      const report = await send(token, 'POST', `/_local/close-periods?at=${at}`);
      expect(report.failed, JSON.stringify(report.failures)).toBe(0);
      stats.closes++;
      for (const subscription of subscriptions) {
        const drafts = await send(
          token,
          'GET',
          `/api/v1/invoices?customer_id=${subscription.customerId}&status=draft&limit=100`,
        );
        for (const draft of drafts.data) {
          await post(`/api/v1/invoices/${draft.id}/finalize`, undefined, `fin-${draft.id}`);
          const paid = await post(
            `/api/v1/invoices/${draft.id}/pay`,
            { paid_out_of_band: true },
            `pay-${draft.id}`,
          );
          expect(paid.status).toBe('paid');
          lastPaid.set(subscription.id, draft.id);
          stats.pays++;
          killNow?.();
        }
      }
    }
    // The load is done; a kill still waiting for a payment happens now.
    while (killing) {
      killNow?.();
      await sleep(100);
    }
    await killer;

    // Then, within a few seconds: every total exact and on the budgets rows.
    const check = async () => {
      const problems: string[] = [];
      const rows = (await send(token, 'GET', '/_local/budgets')).items as Record<string, unknown>[];
      for (const subscription of subscriptions) {
        const invoices = await send(
          token,
          'GET',
          `/api/v1/invoices?customer_id=${subscription.customerId}&limit=100`,
        );
        const invoiced = (invoices.data as { lines: { kind: string; quantity: string | null }[] }[])
          .flatMap((invoice) => invoice.lines)
          .filter((line) => line.kind === 'usage')
          .reduce((sum, line) => sum + BigInt(line.quantity!), 0n);
        const usage = await send(token, 'GET', `/api/v1/subscriptions/${subscription.id}/usage`);
        const open = (usage.metrics as { quantity: string }[]).reduce(
          (sum, m) => sum + BigInt(m.quantity),
          0n,
        );
        const spend = (usage.metrics as { amount: number }[]).reduce((sum, m) => sum + m.amount, 0);
        if (invoiced + open !== sent.get(subscription.id))
          problems.push(`${subscription.id}: counted ${invoiced + open}, sent ${sent.get(subscription.id)}`);
        const current = await send(token, 'GET', `/api/v1/subscriptions/${subscription.id}`);
        const row = rows.find((r) => r.subscription_id === subscription.id);
        const expected = {
          plan_id: current.plan_id,
          version: current.version,
          period_start: current.current_period_start,
          current_spend: spend,
          last_paid_invoice_id: lastPaid.get(subscription.id),
        };
        const actual = Object.fromEntries(Object.keys(expected).map((key) => [key, row?.[key]]));
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          // Which side is behind: billing's projection, or the gateway's copy of it.
          const billing = await send(token, 'GET', `/api/v1/subscriptions/${subscription.id}/budget`).catch(
            (error: Error) => ({ error: error.message }),
          );
          problems.push(
            `${subscription.id}: row ${JSON.stringify(actual)} (sequence ${row?.sequence}), expected ${JSON.stringify(expected)}; billing's projection: version ${billing.version}, sequence ${billing.sequence}${billing.error ? `, ${billing.error}` : ''}`,
          );
        }
      }
      const dead = await send(token, 'GET', '/_local/dead-letters');
      if (dead.bus.length + dead.stream.length + dead.queue.length > 0)
        problems.push(`dead letters: ${JSON.stringify(dead).slice(0, 500)}`);
      return problems;
    };
    let problems = await check();
    for (let wait = 0; problems.length > 0 && wait < 40; wait++) {
      await sleep(250);
      problems = await check();
    }
    console.log(`crash test (seed ${seed}): ${JSON.stringify(stats)}`);
    if (problems.length > 0) problems.push(...(await missingRecords(token, subscriptions, sentKeys)));
    expect(problems, `seed ${seed}`).toEqual([]);
    expect(stats.kills).toBe(KILLS);
  }, 600_000);
});
