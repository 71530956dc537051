import { afterAll, describe, expect, it } from 'vitest';
import { HELP } from '../../local/cli.ts';
import { type Exit, killLeftovers, runService } from '../support/service-process.ts';

/**
 * What a new user meets when `npm start` cannot run: each fault is answered with one sentence that
 * says what to do (no stack trace), before DynamoDB Local starts where it can be.
 */
afterAll(killLeftovers);

/** One line on stderr, nothing that looks like a stack trace, nothing on stdout. */
function expectOneSentence(exit: Exit, pattern: RegExp): void {
  expect(exit.stderr.trim().split('\n'), exit.stderr).toHaveLength(1);
  expect(exit.stderr).toMatch(pattern);
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
