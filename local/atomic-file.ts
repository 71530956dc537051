import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

/**
 * Writes a whole file or leaves the old one: the text goes to a file beside it, is flushed to disk,
 * then renamed over the old one (a rename within a folder is atomic). A kill at any moment leaves
 * either the old content or the new, never a half-written file. Every state file of local mode
 * (stream checkpoints, dead letters, the clock, the dev signing key) is written through here.
 */
export function writeFileAtomic(file: string, text: string | Uint8Array, mode = 0o644): void {
  const aside = `${file}.${process.pid}.tmp`;
  const fd = openSync(aside, 'w', mode);
  try {
    writeSync(fd, typeof text === 'string' ? Buffer.from(text) : text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(aside, file);
}

/** The JSON a state file holds; undefined when there is none yet. Throws when it is not JSON. */
export function readJsonFile<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return JSON.parse(text) as T;
}
