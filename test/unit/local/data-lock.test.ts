import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataFolderInUse, dataFolderHolder, LOCK_FILE, lockDataFolder } from '../../../local/data-lock.ts';

const folder = () => mkdtempSync(join(tmpdir(), 'data-lock-'));
const lockIn = (dataDir: string) => readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim();
/** The pid of a process that has ended. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

const refusal = (dataDir: string): DataFolderInUse => {
  try {
    lockDataFolder(dataDir);
  } catch (error) {
    if (error instanceof DataFolderInUse) return error;
    throw error;
  }
  throw new Error('the lock was taken');
};

describe('the data folder lock', () => {
  it('is refused to a second service while held, naming the holder, and can be taken again once released', () => {
    const dataDir = folder();
    const release = lockDataFolder(dataDir);
    expect(lockIn(dataDir)).toBe(String(process.pid));
    expect(dataFolderHolder(dataDir)).toBe(process.pid);
    const refused = refusal(dataDir);
    expect(refused.pid).toBe(process.pid);
    expect(refused.message).toBe(
      `the data folder ${dataDir} is in use by another local service (pid ${process.pid}); stop that one first (Ctrl-C in its terminal, or \`kill ${process.pid}\`), or give this one another folder with \`--data-dir\``,
    );
    release();
    expect(dataFolderHolder(dataDir)).toBeUndefined();
    lockDataFolder(dataDir)();
  });

  it('held by another live process is refused and left in place', () => {
    const dataDir = folder();
    writeFileSync(join(dataDir, LOCK_FILE), `${process.ppid}\n`);
    expect(refusal(dataDir).pid).toBe(process.ppid);
    expect(lockIn(dataDir)).toBe(String(process.ppid));
  });

  it('left by a service that is gone (kill -9) is taken over', () => {
    const dataDir = folder();
    writeFileSync(join(dataDir, LOCK_FILE), `${deadPid()}\n`);
    expect(dataFolderHolder(dataDir)).toBeUndefined();
    const release = lockDataFolder(dataDir);
    expect(lockIn(dataDir)).toBe(String(process.pid));
    release();
  });

  // Found by the crash test: right after a kill -9 the service can still be a zombie (ended, not yet
  // reaped), which signal 0 reaches, so the restart was refused.
  it('left by a service that has ended but is not yet reaped (a zombie) is taken over', async () => {
    const dataDir = folder();
    // `sleep 0` ends at once; the shell becomes `sleep 5`, which never reaps it: a zombie for 5 s.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5']);
    const zombie = Number(
      await new Promise<string>((done) => parent.stdout.once('data', (d) => done(String(d)))),
    );
    await new Promise((done) => setTimeout(done, 200));
    expect(readFileSync(`/proc/${zombie}/stat`, 'utf8')).toMatch(/\) Z /);
    writeFileSync(join(dataDir, LOCK_FILE), `${zombie}\n`);
    expect(dataFolderHolder(dataDir)).toBeUndefined();
    const release = lockDataFolder(dataDir);
    expect(lockIn(dataDir)).toBe(String(process.pid));
    release();
    parent.kill();
  });

  it('naming this very process without holding it (a restarted container reuses pids) is stale', () => {
    const dataDir = folder();
    writeFileSync(join(dataDir, LOCK_FILE), `${process.pid}\n`);
    lockDataFolder(dataDir)();
  });

  it('is released only if it still names this service: a lock taken over meanwhile stays', () => {
    const dataDir = folder();
    const release = lockDataFolder(dataDir);
    writeFileSync(join(dataDir, LOCK_FILE), `${process.ppid}\n`);
    release();
    expect(lockIn(dataDir)).toBe(String(process.ppid));
  });
});
