import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * The typefaces invoices are set in: DejaVu Sans (the dejavu-fonts-ttf package; free to embed), which
 * covers Latin, Greek, Cyrillic and more, so names such as "Łódź", "Ελλάδα" or "Москва" print as
 * written (the PDF's 14 standard fonts stop at Latin-1). Each PDF embeds only the glyphs it uses.
 *
 * Read from node_modules here; in a Lambda bundle, esbuild.config.mjs replaces this module with the
 * same two files embedded in the bundle (there is no node_modules in a Lambda).
 */
const require = createRequire(import.meta.url);

const file = (name: string): Uint8Array => readFileSync(require.resolve(`dejavu-fonts-ttf/ttf/${name}`));

export const invoiceFonts = (): { regular: Uint8Array; bold: Uint8Array } => ({
  regular: file('DejaVuSans.ttf'),
  bold: file('DejaVuSans-Bold.ttf'),
});
