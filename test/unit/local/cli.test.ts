import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HELP, parseCommandLine, UsageError } from '../../../local/cli.ts';

/** Flags (`--port`) and environment variables (`PORT=`) a text names. */
function settingNames(text: string): string[] {
  const flags = text.match(/--[a-z][a-z-]+/g) ?? [];
  const variables = text.match(/\b[A-Z][A-Z0-9_]+(?==)/g) ?? [];
  return [...new Set([...flags, ...variables])].sort();
}

/** The settings table of the README's "Run it locally" section. */
function readmeSettingsTable(): string {
  const readme = readFileSync(join(import.meta.dirname, '../../../README.md'), 'utf8');
  const table = /\n\| Setting .*\n(?:\|.*\n)+/.exec(readme);
  if (!table) throw new Error("README.md has no '| Setting |' table");
  return table[0];
}

const usageError = (args: string[], env: NodeJS.ProcessEnv = {}): string => {
  try {
    parseCommandLine(args, env);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error(`${args.join(' ')} was accepted`);
};

describe('the command line of npm start', () => {
  it("--help lists every setting of the README's table, and the table every one --help lists", () => {
    const inReadme = settingNames(readmeSettingsTable());
    const inHelp = settingNames(HELP).filter((name) => name !== '--help');
    expect(inHelp).toEqual(inReadme);
    expect(inHelp).toEqual(expect.arrayContaining(['--port', 'PORT', '--data-dir', 'BILLING_DATA_DIR']));
  });

  it('each option sets what its environment variable sets, and the option wins', () => {
    expect(parseCommandLine([], {})).toEqual({
      help: false,
      settings: { port: 3000, dataDir: undefined, inMemory: false },
    });
    const env = { PORT: '4100', BILLING_DATA_DIR: '/env/dir', BILLING_IN_MEMORY: '1' };
    expect(parseCommandLine([], env)).toEqual({
      help: false,
      settings: { port: 4100, dataDir: '/env/dir', inMemory: true },
    });
    expect(parseCommandLine(['--port', '4200', '--data-dir=/flag/dir', '--in-memory'], env)).toEqual({
      help: false,
      settings: { port: 4200, dataDir: '/flag/dir', inMemory: true },
    });
  });

  it('--help (or -h) wins over anything else on the line', () => {
    expect(parseCommandLine(['--prot', '1', '--help'], {})).toEqual({ help: true });
    expect(parseCommandLine(['-h'], { PORT: 'abc' })).toEqual({ help: true });
  });

  it('a mistyped option is answered in one sentence with a guess and a pointer to --help', () => {
    expect(usageError(['--prot', '1'])).toBe(
      'unknown option --prot (did you mean --port?); `npm start -- --help` lists every option',
    );
    expect(usageError(['--verbose'])).toBe(
      'unknown option --verbose; `npm start -- --help` lists every option',
    );
    expect(usageError(['4000'])).toMatch(/^unexpected argument '4000'; `npm start -- --help`/);
    expect(usageError(['--in-memory=yes'])).toMatch(/^--in-memory takes no value/);
    expect(usageError(['--port'])).toBe('--port needs a value, e.g. --port 4000');
  });

  it('a port is a whole number from 0 to 65535, from the option or from PORT', () => {
    for (const bad of ['abc', '-1', '65536', '3.5', '1e3', ' 80']) {
      expect(usageError(['--port', bad])).toBe(
        `--port must be a port number from 1 to 65535 (0 picks a free one), not '${bad}'`,
      );
    }
    expect(usageError([], { PORT: 'http' })).toMatch(/^PORT must be a port number/);
    expect(parseCommandLine(['--port', '0'], {})).toMatchObject({ settings: { port: 0 } });
    expect(parseCommandLine(['--port', '65535'], {})).toMatchObject({ settings: { port: 65535 } });
  });
});
