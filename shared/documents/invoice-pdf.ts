import PDFDocument from 'pdfkit';
import { invoiceFonts } from './fonts.ts';
import type { DocumentLine, InvoiceDocument } from './invoice-document.ts';

/**
 * The invoice as a PDF (A4), drawn with pdfkit from the document view (invoice-document.ts): the
 * seller, the customer, the facts (number, dates, period, currency), one row per line, then the
 * totals. Long tables continue on further pages under a repeated header; every page is numbered.
 *
 * The same invoice always gives the same bytes: the creation date is the date of issue and nothing
 * else varies, so two renders that race to store it store the same file.
 */
export async function renderInvoicePdf(document: InvoiceDocument, issuedAt: string): Promise<Buffer> {
  const fonts = invoiceFonts();
  const pdf = new PDFDocument({
    size: 'A4',
    margin: MARGIN,
    bufferPages: true,
    info: {
      Title: `Invoice ${document.number}`,
      Subject: `Invoice ${document.number} for ${document.billTo.name}`,
      Creator: 'billing-service',
      Producer: 'billing-service (pdfkit)',
      CreationDate: new Date(issuedAt),
      ModDate: new Date(issuedAt),
    },
  });
  pdf.registerFont(REGULAR, Buffer.from(fonts.regular));
  pdf.registerFont(BOLD, Buffer.from(fonts.bold));
  const chunks: Buffer[] = [];
  pdf.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    pdf.on('end', () => resolve());
    pdf.on('error', reject);
  });

  drawHeading(pdf, document);
  drawLines(pdf, document.lines, document.currency);
  drawTotals(pdf, document);
  numberPages(pdf, document.number);
  pdf.end();
  await ended;
  return Buffer.concat(chunks);
}

const REGULAR = 'DejaVuSans';
const BOLD = 'DejaVuSans-Bold';
const MARGIN = 50;
const PAGE_WIDTH = 595.28;
const CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN;
const BOTTOM = 841.89 - MARGIN - 20;
const GREY = '#555555';

/** Table columns: x offset from the margin and width. */
const COLUMNS = {
  description: { x: 0, width: 225 },
  quantity: { x: 230, width: 65 },
  unitPrice: { x: 300, width: 85 },
  amount: { x: 390, width: CONTENT_WIDTH - 390 },
} as const;

type Pdf = InstanceType<typeof PDFDocument>;

function drawHeading(pdf: Pdf, document: InvoiceDocument): void {
  pdf.font(BOLD).fontSize(22).fillColor('black').text('Invoice', MARGIN, MARGIN);
  const top = pdf.y + 6;
  pdf.font(REGULAR).fontSize(9).fillColor(GREY);
  // Each issuer line starts where the one before ended (a long address wraps onto its own lines).
  let issuerY = MARGIN;
  for (const line of document.issuer) {
    pdf.text(line, MARGIN + 250, issuerY, { width: CONTENT_WIDTH - 250, align: 'right' });
    issuerY = pdf.y;
  }
  let y = Math.max(top, issuerY + 6);
  for (const [label, value] of document.facts) {
    pdf.font(BOLD).fontSize(9).fillColor('black').text(label, MARGIN, y, { width: 110 });
    pdf.font(REGULAR).text(value, MARGIN + 110, y, { width: 200 });
    y = Math.max(pdf.y, y + 12);
  }
  y += 14;
  pdf.font(BOLD).fontSize(10).text('Bill to', MARGIN, y);
  pdf
    .font(REGULAR)
    .fontSize(10)
    .text(document.billTo.name, MARGIN, pdf.y + 2, { width: 300 });
  pdf.fillColor(GREY).text(document.billTo.email, MARGIN, pdf.y, { width: 300 });
  pdf.fillColor('black');
  pdf.y += 20;
}

function drawTableHeader(pdf: Pdf, currency: string): void {
  const y = pdf.y;
  pdf.font(BOLD).fontSize(9).fillColor('black');
  cell(pdf, 'Description', 'description', y);
  cell(pdf, 'Qty', 'quantity', y, 'right');
  cell(pdf, 'Unit price', 'unitPrice', y, 'right');
  cell(pdf, `Amount (${currency})`, 'amount', y, 'right');
  const below = y + 14;
  pdf
    .moveTo(MARGIN, below)
    .lineTo(MARGIN + CONTENT_WIDTH, below)
    .lineWidth(0.7)
    .strokeColor('#999999')
    .stroke();
  pdf.y = below + 6;
}

function drawLines(pdf: Pdf, lines: readonly DocumentLine[], currency: string): void {
  drawTableHeader(pdf, currency);
  for (const line of lines) {
    pdf.font(REGULAR).fontSize(9);
    // As tall as its tallest cell: any of them may wrap.
    const height =
      Math.max(
        pdf.heightOfString(line.description, { width: COLUMNS.description.width }) + (line.period ? 11 : 0),
        pdf.heightOfString(line.quantity || ' ', { width: COLUMNS.quantity.width }),
        pdf.heightOfString(line.unitPrice || ' ', { width: COLUMNS.unitPrice.width }),
        pdf.heightOfString(line.amount, { width: COLUMNS.amount.width }),
      ) + 8;
    if (pdf.y + height > BOTTOM) {
      pdf.addPage();
      drawTableHeader(pdf, currency);
    }
    const y = pdf.y;
    pdf.fillColor('black');
    cell(pdf, line.description, 'description', y);
    const afterDescription = pdf.y;
    if (line.period) {
      pdf
        .fontSize(7.5)
        .fillColor(GREY)
        .text(line.period, MARGIN, afterDescription + 1, {
          width: COLUMNS.description.width,
        });
      pdf.fontSize(9).fillColor('black');
    }
    cell(pdf, line.quantity, 'quantity', y, 'right');
    cell(pdf, line.unitPrice, 'unitPrice', y, 'right');
    cell(pdf, line.amount, 'amount', y, 'right');
    pdf.y = y + height;
  }
}

function drawTotals(pdf: Pdf, document: InvoiceDocument): void {
  const rowHeight = 15;
  const labelWidth = COLUMNS.amount.x - 110;
  // The rows as they will be set (a long tax label wraps), so the block is never cut by the page end.
  const needed = document.totals.reduce((sum, total) => {
    pdf.font(total.emphasis ? BOLD : REGULAR).fontSize(total.emphasis ? 10 : 9);
    return sum + Math.max(pdf.heightOfString(total.label, { width: labelWidth }), rowHeight) + 2;
  }, 12);
  if (pdf.y + needed > BOTTOM) pdf.addPage();
  let y = pdf.y + 4;
  pdf
    .moveTo(MARGIN + 200, y)
    .lineTo(MARGIN + CONTENT_WIDTH, y)
    .lineWidth(0.7)
    .strokeColor('#999999')
    .stroke();
  y += 8;
  for (const total of document.totals) {
    pdf
      .font(total.emphasis ? BOLD : REGULAR)
      .fontSize(total.emphasis ? 10 : 9)
      .fillColor('black');
    pdf.text(total.label, MARGIN + 100, y, { width: labelWidth, align: 'right' });
    const labelBottom = pdf.y;
    pdf.text(total.amount, MARGIN + COLUMNS.amount.x, y, { width: COLUMNS.amount.width, align: 'right' });
    y = Math.max(labelBottom, pdf.y, y + rowHeight) + 2;
  }
  pdf.y = y;
}

function numberPages(pdf: Pdf, number: string): void {
  const { start, count } = pdf.bufferedPageRange();
  for (let i = start; i < start + count; i++) {
    pdf.switchToPage(i);
    pdf.font(REGULAR).fontSize(8).fillColor(GREY);
    // Below the bottom margin: pdfkit would otherwise start a new page for this line.
    const bottomMargin = pdf.page.margins.bottom;
    pdf.page.margins.bottom = 0;
    pdf.text(`${number} · page ${i + 1} of ${count}`, MARGIN, 841.89 - MARGIN + 10, {
      width: CONTENT_WIDTH,
      align: 'center',
      lineBreak: false,
    });
    pdf.page.margins.bottom = bottomMargin;
  }
}

function cell(
  pdf: Pdf,
  text: string,
  column: keyof typeof COLUMNS,
  y: number,
  align: 'left' | 'right' = 'left',
): void {
  const { x, width } = COLUMNS[column];
  pdf.text(text, MARGIN + x, y, { width, align });
}
