import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One local service per data folder: two DynamoDB Locals on one database file overwrite each
 * other's writes, and two stream pollers would each deliver every event once more. The lock is a
 * file in the folder holding the owner's pid; a lock whose pid is no longer alive (a service
 * killed with kill -9, a machine that crashed) is taken over.
 *
 * In-memory services take no lock: they keep nothing in the folder but read its dev signing key,
 * which two of them (or one beside a service on disk) can share.
 */
export const LOCK_FILE = 'service.lock';

/** Lock files this process holds: a pid in a lock file equal to ours is ours only if it is here. */
const held = new Set<string>();

export class DataFolderInUse extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the data folder ${dataDir} is in use by another local service (pid ${pid}); stop that one first (Ctrl-C in its terminal, or \`kill ${pid}\`), or give this one another folder with \`--data-dir\``,
    );
  }
}

/** Takes the data folder's lock (creating the folder), or throws DataFolderInUse; returns its release. */
export function lockDataFolder(dataDir: string): () => void {
  const file = join(dataDir, LOCK_FILE);
  // Written beside, then hard-linked into place: link() fails if the lock exists, and a lock never
  // exists without its pid in it (an O_EXCL create would be seen empty for a moment).
  const mine = `${file}.${process.pid}`;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(mine, `${process.pid}\n`);
    } catch (error) {
      throw new Error(
        `the data folder ${dataDir} cannot be written (${(error as NodeJS.ErrnoException).code}); give another with \`--data-dir\``,
      );
    }
    try {
      linkSync(mine, file);
      return holding(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A file system without hard links: an exclusive create, empty for a moment, will do.
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS') {
        writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
        return holding(file);
      }
      if (code !== 'EEXIST') throw error;
    } finally {
      rmSync(mine, { force: true });
    }
    const holder = holderOf(file);
    if (holder !== undefined && isHeldBy(file, holder)) throw new DataFolderInUse(dataDir, holder);
    // Stale: removed only if it still names the owner just found gone, so that of two services
    // taking it over at once the second does not remove the first one's fresh lock (but for the
    // microseconds between this read and the removal).
    if (holderOf(file) === holder) rmSync(file, { force: true });
  }
  throw new Error(`the lock ${file} keeps changing; make sure no other local service uses ${dataDir}`);
}

function holding(file: string): () => void {
  held.add(file);
  const release = () => {
    process.off('exit', release);
    if (held.delete(file) && holderOf(file) === process.pid) rmSync(file, { force: true });
  };
  // A runtime that is never stopped (an uncaught error) still lets go when the process ends.
  process.on('exit', release);
  return release;
}

/** The pid of a live service holding the data folder's lock, if one does. */
export function dataFolderHolder(dataDir: string): number | undefined {
  return liveHolder(join(dataDir, LOCK_FILE));
}

function liveHolder(file: string): number | undefined {
  const pid = holderOf(file);
  return pid !== undefined && isHeldBy(file, pid) ? pid : undefined;
}

/** Our own pid in a lock may be a previous life's (a container restarts with the same pids). */
function isHeldBy(file: string, pid: number): boolean {
  return pid === process.pid ? held.has(file) : isAlive(pid);
}

function holderOf(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, run by another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A service killed a moment ago may still be a zombie (ended, not yet reaped): signals reach it,
  // but it holds nothing. Found by the crash test: a restart right after a kill -9 was refused.
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return false; // no /proc (macOS): trust the signal
  }
}
