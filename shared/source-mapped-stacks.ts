import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Stack traces of a bundled Lambda in terms of its sources (shared/…/x.ts:line:column), with the
 * source map read only when a stack is first formatted. `--enable-source-maps` gives the same
 * traces but parses every bundle's map at cold start (~10 % of its CPU, bench/bundles.ts): here a
 * function that never formats a stack never reads its map. Frames of files without a map beside
 * them (`<file>.map`), and processes that already map stacks themselves (tsx, `--enable-source-maps`),
 * are left as Node prints them.
 */
export function mapStacksLazily(): void {
  if (process.sourceMapsEnabled) return;
  // Node's own formatter (a function on recent versions), for stacks with nothing to map.
  const previous = Error.prepareStackTrace;
  const maps = new Map<string, SourceMap | undefined>();
  const mapOf = (file: string): SourceMap | undefined => {
    if (!maps.has(file)) {
      let map: SourceMap | undefined;
      try {
        const path = file.startsWith('file:') ? fileURLToPath(file) : file;
        map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')));
      } catch {
        map = undefined; // no map beside it: Node's own frames
      }
      maps.set(file, map);
    }
    return maps.get(file);
  };
  Error.prepareStackTrace = (error, frames) => {
    let mapped = false;
    const lines = frames.map((frame) => {
      const text = frame.toString();
      const file = frame.getFileName();
      const line = frame.getLineNumber();
      const column = frame.getColumnNumber();
      const map = file && line !== null && column !== null ? mapOf(file) : undefined;
      if (!map || !file) return `    at ${text}`;
      const entry = map.findEntry(line! - 1, column! - 1) as {
        originalSource?: string;
        originalLine?: number;
        originalColumn?: number;
      };
      if (!entry.originalSource) return `    at ${text}`;
      mapped = true;
      // Sources as the repository names them: the map's paths are relative to the bundle's folder.
      const original = entry.originalSource.replace(/^(\.\.\/)+/, '');
      const source = `${original}:${entry.originalLine! + 1}:${entry.originalColumn! + 1}`;
      return `    at ${text.replace(`${file}:${line}:${column}`, source)}`;
    });
    if (!mapped && previous) return previous(error, frames);
    return [Error.prototype.toString.call(error), ...lines].join('\n');
  };
}
