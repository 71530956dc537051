import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';

/**
 * The text of a PDF as a reader extracts it (pdfjs-dist, Mozilla's PDF engine): per page, the text
 * runs in drawing order, plus the document's info (title, dates). What the tests of invoice PDFs read.
 */
export async function pdfText(
  bytes: Uint8Array,
): Promise<{ pages: string[][]; info: Record<string, unknown> }> {
  const document = await getDocument({
    data: new Uint8Array(bytes),
    isEvalSupported: false,
    useSystemFonts: false,
    verbosity: 0,
  }).promise;
  try {
    const pages: string[][] = [];
    for (let n = 1; n <= document.numPages; n++) {
      const content = await (await document.getPage(n)).getTextContent();
      pages.push(
        content.items.map((item) => ('str' in item ? item.str : '')).filter((text) => text.trim() !== ''),
      );
    }
    const { info } = await document.getMetadata();
    return { pages, info: info as Record<string, unknown> };
  } finally {
    await document.destroy();
  }
}
