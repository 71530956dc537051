import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import puppeteer, { type Browser } from 'puppeteer-core';

/**
 * A real headless Chromium (Debian's `chromium` package, or CHROMIUM_PATH) driven by puppeteer-core,
 * and Tesseract OCR (Debian's `tesseract-ocr`) to read what a screenshot shows. `bash .ci/run`
 * installs both; elsewhere, a test that needs one fails saying how to get it.
 */
const CHROMIUM_CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function chromiumPath(): string {
  const found = CHROMIUM_CANDIDATES.find((path): path is string => !!path && existsSync(path));
  if (!found) {
    throw new Error(
      'No Chromium found: install it (`sudo apt-get install chromium`), or set CHROMIUM_PATH to a Chromium binary',
    );
  }
  return found;
}

export async function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // --no-sandbox: CI runs the tests as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--font-render-hinting=none'],
  });
}

const run = promisify(execFile);

/** The text Tesseract reads in a PNG (English model), lines joined by spaces. */
export async function ocrText(png: Uint8Array, file: string): Promise<string> {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, png);
  try {
    const { stdout } = await run('tesseract', [file, 'stdout', '--psm', '3'], { maxBuffer: 8 * 1024 * 1024 });
    return stdout.replace(/\s+/g, ' ').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        'No tesseract found: install it (`sudo apt-get install tesseract-ocr`) to read screenshots',
      );
    }
    throw error;
  }
}
