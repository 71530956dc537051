import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * The local service as a separate process, started the way a user starts it: `npm start -- <args>`,
 * or `tsx local/main.ts <args>` (what the npm script runs). For tests of what the command itself
 * prints, exits with and leaves behind; tests of the API use startTestService instead.
 */
export const REPO_ROOT = join(import.meta.dirname, '../..');
const TSX_CLI = join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs');

export type Exit = {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
};

export type ServiceProcess = {
  child: ChildProcess;
  /** Resolves with the first match of `pattern` in stdout + stderr so far or to come. */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
  exited: Promise<Exit>;
};

const running = new Set<ChildProcess>();

export function startService(
  args: string[],
  /** `detached`: in a process group of its own, so a test can kill the whole group (npm to Java). */
  options: { via?: 'tsx' | 'npm'; env?: NodeJS.ProcessEnv; detached?: boolean } = {},
): ServiceProcess {
  const started = Date.now();
  const child =
    options.via === 'npm'
      ? spawn('npm', ['start', '--silent', '--', ...args], {
          cwd: REPO_ROOT,
          env: options.env ?? process.env,
          detached: options.detached ?? false,
        })
      : spawn(process.execPath, [TSX_CLI, 'local/main.ts', ...args], {
          cwd: REPO_ROOT,
          env: options.env ?? process.env,
          detached: options.detached ?? false,
        });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (chunk) => {
    stdout += String(chunk);
    for (const listener of listeners) listener();
  });
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
    for (const listener of listeners) listener();
  });
  const exited = new Promise<Exit>((resolve) =>
    child.once('close', (code, signal) => {
      running.delete(child);
      for (const listener of listeners) listener();
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    }),
  );
  const waitFor = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = (stdout + stderr).match(pattern);
        if (match) done(() => resolve(match));
        else if (child.exitCode !== null || child.signalCode !== null)
          done(() => reject(new Error(`exited before printing ${pattern}:\n${stdout}${stderr}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${stdout}${stderr}`))),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });
  return { child, waitFor, exited };
}

/** Runs the service until it exits by itself (killing it after `timeoutMs`) and returns what it printed. */
export async function runService(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Exit> {
  const service = startService(args, options);
  const timer = setTimeout(() => service.child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  try {
    return await service.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** For an afterAll: kills whatever a failed test left running. */
export function killLeftovers(): void {
  for (const child of running) child.kill('SIGKILL');
}

export type ProcessRow = { pid: number; ppid: number; state: string; args: string };

/** Every process on the machine, as `ps` lists them (zombies included: see `state`). */
export function processes(): ProcessRow[] {
  const listing = execFileSync('ps', ['-eo', 'pid=,ppid=,stat=,args='], { encoding: 'utf8' });
  return listing
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map(([, pid, ppid, state, args]) => ({
      pid: Number(pid),
      ppid: Number(ppid),
      state: state!,
      args: args!,
    }));
}

/** The processes below `pid`: its children, theirs, and so on. */
export function descendants(pid: number, all = processes()): ProcessRow[] {
  const children = all.filter((row) => row.ppid === pid);
  return children.flatMap((child) => [child, ...descendants(child.pid, all)]);
}

/** The node process running local/main.ts below `pid` (npm → sh → tsx → node), if it runs. */
export function serviceBelow(pid: number): ProcessRow | undefined {
  return descendants(pid).find((row) => /tsx\/dist\/loader\.mjs.* local\/main\.ts/.test(row.args));
}

/** Whether `pid` runs (a zombie, ended but not yet reaped by its parent, does not). */
export function isRunning(pid: number): boolean {
  return processes().some((row) => row.pid === pid && !row.state.startsWith('Z'));
}

/** Polls `condition` every 100 ms; false if it never held within `timeoutMs`. */
export async function eventually(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}
