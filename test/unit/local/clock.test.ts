import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localClock } from '../../../local/clock.ts';

describe('the local clock', () => {
  it('moves forward only, and a restart on the same data folder starts where it was', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'clock-')), 'clock.json');
    const clock = localClock(file);
    const ahead = new Date(Date.now() + 40 * 86_400_000);
    expect(clock.advanceTo(ahead).getTime()).toBeGreaterThanOrEqual(ahead.getTime());
    // Back in time is refused: the clock stays ahead.
    expect(clock.advanceTo(new Date(0)).getTime()).toBeGreaterThanOrEqual(ahead.getTime());
    const restarted = localClock(file);
    expect(restarted.now().getTime()).toBeGreaterThanOrEqual(ahead.getTime());
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ offset_ms: expect.any(Number) });
  });

  it('without a file it is real time until moved; a file that does not hold it is refused, saying what to do', () => {
    const before = Date.now();
    expect(localClock().now().getTime()).toBeGreaterThanOrEqual(before);
    expect(localClock().now().getTime()).toBeLessThan(before + 60_000);
    const file = join(mkdtempSync(join(tmpdir(), 'clock-')), 'clock.json');
    writeFileSync(file, '{"offset_ms":"soon"}');
    expect(() => localClock(file)).toThrow(/delete it to go back to real time/);
  });
});
