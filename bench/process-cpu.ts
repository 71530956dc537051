import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of a process and every process under it, from Linux's /proc (utime + stime, in clock
 * ticks of 1/100 s on Linux), so a benchmark can measure what a command costs as a whole: npm, the
 * service's Node process, DynamoDB Local's JVM and the watchdog.
 */
export type ProcessCpu = { pid: number; command: string; ticks: number };

const TICKS_PER_SECOND = 100;

function children(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

function cpuOf(pid: number): ProcessCpu | undefined {
  try {
    // Fields after the command (which may hold spaces, in parentheses): utime is the 12th, stime the 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    return { pid, command, ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined; // gone between listing and reading
  }
}

export function processTree(root: number): ProcessCpu[] {
  const found: ProcessCpu[] = [];
  const visit = (pid: number) => {
    const cpu = cpuOf(pid);
    if (!cpu) return;
    found.push(cpu);
    for (const child of children(pid)) visit(child);
  };
  visit(root);
  return found;
}

/** Each process's share of one core over `seconds`, measured from `root` down. */
export async function treeCpuShare(
  root: number,
  seconds: number,
): Promise<{ command: string; share: number }[]> {
  const before = new Map(processTree(root).map((p) => [p.pid, p.ticks]));
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return processTree(root).map((p) => ({
    command: p.command,
    share: (p.ticks - (before.get(p.pid) ?? 0)) / TICKS_PER_SECOND / seconds,
  }));
}
