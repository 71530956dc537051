import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, ocrText } from '../support/browser.ts';
import { callsWith, createdOverHttp, oneOffBuyer } from '../support/http-fixtures.ts';
import { startWithOperator, type TestService } from '../support/local-service.ts';

/**
 * The hosted invoice page in a real browser: headless Chromium with JavaScript turned off opens the
 * link as a customer would (no token), and what it shows is read twice: from the page as rendered
 * (its text) and from a screenshot, by OCR, so the check is of what a person would see.
 */
let service: TestService;
let operator: string;
let browser: Browser;
const work = mkdtempSync(join(tmpdir(), 'hosted-page-'));

beforeAll(async () => {
  ({ service, operator } = await startWithOperator());
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await service?.close();
  rmSync(work, { recursive: true, force: true });
});

const call = callsWith(
  () => service,
  () => operator,
);

/** OCR reads O for 0, I for 1, S for 5 now and then: compare with look-alikes folded together. */
const fold = (text: string) =>
  text
    .toUpperCase()
    .replace(/O/g, '0')
    .replace(/[IL|]/g, '1')
    .replace(/S/g, '5')
    .replace(/B/g, '8')
    .replace(/Z/g, '2');

describe('the hosted invoice page in headless Chromium', () => {
  let link: { url: string; pdf_url: string };
  let number: string;

  beforeAll(async () => {
    const vat = await createdOverHttp(service, operator, '/api/v1/tax-rates', {
      display_name: 'VAT',
      percentage: '19',
      inclusive: false,
    });
    const { invoice } = await oneOffBuyer(service, operator, {
      name: 'Screenshot Check Ltd',
      unitAmount: 4_250,
      taxRateIds: [vat.id],
    });
    // 3 × 42.50 = 127.50; 19 % of it 24.225, rounded half up 24.23; 151.73 in all.
    const open = await invoice(3);
    expect(open).toMatchObject({ subtotal: 12_750, tax: 2_423, total: 15_173 });
    number = open.number;
    link = (await call('POST', `/api/v1/invoices/${open.id}/hosted-links`, {})).body;
  });

  it('renders without JavaScript, fetching nothing but the page, and shows the invoice as text', async () => {
    const page = await browser.newPage();
    try {
      await page.setJavaScriptEnabled(false);
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      const response = await page.goto(link.url, { waitUntil: 'load' });
      expect(response?.status()).toBe(200);
      expect(requests).toEqual([link.url]);
      expect(await page.title()).toBe(`Invoice ${number}`);
      // biome-ignore lint/performance/useDomNodeTextContent: the text as rendered is what is checked
      const text = await page.$eval('body', (body) => (body as unknown as { innerText: string }).innerText);
      for (const expected of [
        number,
        'Open',
        'Screenshot Check Ltd',
        '42.50',
        '127.50',
        'VAT 19% on 127.50',
        '24.23',
        '151.73',
        'Amount due now',
        'Download the PDF',
      ]) {
        expect(text, expected).toContain(expected);
      }
      const pdfHref = await page.$eval('a', (a) => a.href);
      expect(pdfHref).toBe(link.pdf_url);
    } finally {
      await page.close();
    }
  });

  it('shows the number, the customer and the amounts in its screenshot, on a desktop and on a phone', async () => {
    for (const viewport of [
      { width: 1280, height: 900, deviceScaleFactor: 2 },
      { width: 390, height: 844, deviceScaleFactor: 2 },
    ]) {
      const page = await browser.newPage();
      try {
        await page.setJavaScriptEnabled(false);
        await page.setViewport(viewport);
        await page.goto(link.url, { waitUntil: 'load' });
        const png = await page.screenshot({ fullPage: true, type: 'png' });
        const seen = await ocrText(png, join(work, `shot-${viewport.width}.png`));
        const label = `${viewport.width}px: ${seen}`;
        expect(fold(seen), label).toContain(fold(number));
        for (const expected of [
          'Invoice',
          'Screenshot Check Ltd',
          '127.50',
          '24.23',
          '151.73',
          'Amount due now',
        ]) {
          expect(fold(seen), `${expected} at ${label}`).toContain(fold(expected));
        }
      } finally {
        await page.close();
      }
    }
  }, 60_000);

  it('shows a person what went wrong when the link does not work', async () => {
    const page = await browser.newPage();
    try {
      await page.setJavaScriptEnabled(false);
      const response = await page.goto(`${link.url.slice(0, -4)}AAAA`, { waitUntil: 'load' });
      expect(response?.status()).toBe(404);
      const seen = await ocrText(await page.screenshot({ type: 'png' }), join(work, 'shot-404.png'));
      expect(seen).toContain('This link does not work');
    } finally {
      await page.close();
    }
  }, 60_000);
});
