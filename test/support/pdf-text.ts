import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';

/**
 * The text of a PDF as a reader extracts it (pdfjs-dist, Mozilla's PDF engine): per page, the text
 * runs in drawing order (each with where it starts: x, and y up from the bottom), plus the document's info (title, dates). What the tests of invoice PDFs read.
 */
export type TextRun = { text: string; x: number; y: number };

export async function pdfText(
  bytes: Uint8Array,
): Promise<{ pages: string[][]; runs: TextRun[][]; info: Record<string, unknown> }> {
  const document = await getDocument({
    data: new Uint8Array(bytes),
    isEvalSupported: false,
    useSystemFonts: false,
    verbosity: 0,
  }).promise;
  try {
    const runs: TextRun[][] = [];
    for (let n = 1; n <= document.numPages; n++) {
      const content = await (await document.getPage(n)).getTextContent();
      runs.push(
        content.items
          .flatMap((item) =>
            'str' in item
              ? [{ text: item.str, x: item.transform[4] as number, y: item.transform[5] as number }]
              : [],
          )
          .filter((run) => run.text.trim() !== ''),
      );
    }
    const { info } = await document.getMetadata();
    return {
      pages: runs.map((page) => page.map((run) => run.text)),
      runs,
      info: info as Record<string, unknown>,
    };
  } finally {
    await document.destroy();
  }
}
