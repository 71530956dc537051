import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELP } from '../../local/cli.ts';
import { LOCK_FILE } from '../../local/data-lock.ts';
import {
  descendants,
  type Exit,
  eventually,
  isRunning,
  killLeftovers,
  runService,
  type ServiceProcess,
  serviceBelow,
  startService,
} from '../support/service-process.ts';

/**
 * What a new user meets when `npm start` cannot run: each fault is answered with one sentence that
 * says what to do (no stack trace), before DynamoDB Local starts where it can be.
 */
const scratch = mkdtempSync(join(tmpdir(), 'billing-startup-'));
afterAll(() => {
  killLeftovers();
  rmSync(scratch, { recursive: true, force: true });
});

/** A fresh folder under the scratch folder. */
const folder = (name: string): string => mkdtempSync(join(scratch, `${name}-`));

/** One line on stderr, nothing that looks like a stack trace, nothing on stdout. */
function expectOneSentence(exit: Exit, pattern: RegExp): void {
  expect(exit.stderr.trim().split('\n'), exit.stderr).toHaveLength(1);
  expect(exit.stderr.trim()).toMatch(pattern);
  expect(exit.stderr).not.toMatch(/\n\s+at |Error:|ERR_/);
  expect(exit.stdout).toBe('');
}

describe('the command line', () => {
  it('--help prints the settings and exits 0 without starting anything', async () => {
    const exit = await runService(['--help']);
    expect(exit.code).toBe(0);
    expect(exit.stdout.trim()).toBe(HELP);
    for (const name of [
      '--port',
      'PORT=',
      '--data-dir',
      'BILLING_DATA_DIR=',
      '--in-memory',
      'MAX_BODY_BYTES=',
    ]) {
      expect(exit.stdout).toContain(name);
    }
  });

  it('a mistyped option is one sentence pointing to --help, exit code 2', async () => {
    const exit = await runService(['--prot', '1']);
    expect(exit.code).toBe(2);
    expectOneSentence(exit, /^unknown option --prot \(did you mean --port\?\); `npm start -- --help`/);
  });

  it('a port that is not a number is refused at once, before DynamoDB Local starts', async () => {
    const exit = await runService(['--port', 'abc']);
    expect(exit.code).toBe(2);
    expectOneSentence(exit, /^--port must be a port number from 1 to 65535/);
    expect(exit.ms).toBeLessThan(5000);
  });
});

describe('Java', () => {
  it('missing from the PATH is one sentence saying to install Java 17+, before anything is started', async () => {
    const exit = await runService(['--port', '0', '--data-dir', folder('no-java')], {
      env: { ...process.env, PATH: folder('empty-bin') },
    });
    expect(exit.code).toBe(1);
    expectOneSentence(
      exit,
      /^The local service could not start: Java was not found .*install Java 17 or newer/,
    );
    expect(exit.stderr).toContain('apt install openjdk-17-jre-headless');
  });

  it('older than 17 is named, with the same advice', async () => {
    const bin = folder('java-11');
    writeFileSync(join(bin, 'java'), '#!/bin/sh\necho \'openjdk version "11.0.22" 2024-01-16\' >&2\n');
    chmodSync(join(bin, 'java'), 0o755);
    const exit = await runService(['--port', '0', '--data-dir', folder('old-java')], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(exit.code).toBe(1);
    expectOneSentence(
      exit,
      /^The local service could not start: Java 11 was found, but DynamoDB Local needs Java 17/,
    );
  });
});

describe('the HTTP port', () => {
  it('in use is one sentence naming it and another to use, within seconds, before DynamoDB Local starts', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const exit = await runService(['--port', String(port), '--data-dir', folder('busy-port')]);
      expect(exit.code).toBe(1);
      expectOneSentence(
        exit,
        new RegExp(
          `^The local service could not start: port ${port} is in use; stop what uses it, or run \`npm start -- --port 4000\`$`,
        ),
      );
      expect(exit.ms).toBeLessThan(5000);
    } finally {
      holder.close();
    }
  });
});

describe('a service running on a data folder', () => {
  let npm: ServiceProcess;
  let servicePid: number;
  const dataDir = folder('running');

  beforeAll(async () => {
    npm = startService(['--port', '0', '--data-dir', dataDir], { via: 'npm' });
    await npm.waitFor(/listening on http:\/\/localhost:\d+/);
    servicePid = serviceBelow(npm.child.pid!)!.pid;
  });
  afterAll(() => {
    // Only if a test failed before stopping it; the watchdog then ends DynamoDB Local.
    if (isRunning(servicePid)) process.kill(servicePid, 'SIGKILL');
  });

  it('keeps a second start off that folder: one sentence naming its pid, before DynamoDB Local starts', async () => {
    const exit = await runService(['--port', '0', '--data-dir', dataDir]);
    expect(exit.code).toBe(1);
    expectOneSentence(
      exit,
      new RegExp(
        `^The local service could not start: the data folder ${dataDir} is in use by another local service \\(pid ${servicePid}\\); stop that one first`,
      ),
    );
    expect(exit.ms).toBeLessThan(5000);
  });

  it('stops with everything it started on a kill -TERM of npm, and lets go of the folder', async () => {
    const started = descendants(npm.child.pid!);
    expect(started.map((row) => row.pid)).toContain(servicePid);
    expect(started.filter((row) => /DynamoDBLocal\.jar/.test(row.args))).toHaveLength(1);
    process.kill(npm.child.pid!, 'SIGTERM');
    const exit = await npm.exited;
    expect(exit.stdout).toContain('SIGTERM: stopping (DynamoDB Local included)…');
    expect(await eventually(() => !started.some((row) => isRunning(row.pid)), 10_000)).toBe(true);
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
  });
});

describe('a service killed with kill -9', () => {
  it('leaves no DynamoDB Local behind', async () => {
    const dataDir = folder('killed');
    const tsx = startService(['--port', '0', '--data-dir', dataDir]);
    await tsx.waitFor(/listening on http:\/\/localhost:\d+/);
    const service = serviceBelow(tsx.child.pid!)!;
    const java = descendants(service.pid).filter((row) => row.args.includes(join(dataDir, 'dynamodb')));
    expect(java).toHaveLength(1);
    process.kill(service.pid, 'SIGKILL');
    expect(await eventually(() => !isRunning(java[0]!.pid), 10_000)).toBe(true);
    expect(descendants(tsx.child.pid!)).toEqual([]);
    await tsx.exited;
  });
});
