import type { DocumentTotal, InvoiceDocument, InvoiceState } from './invoice-document.ts';

/**
 * The hosted invoice page: one HTML document, readable without JavaScript (it has none) and without
 * anything fetched from elsewhere (the style is inline). Every value from the invoice is escaped, and
 * the response headers (hostedPageHeaders) forbid scripts, framing and sending the link on as a referrer.
 */
export function renderHostedInvoicePage(
  document: InvoiceDocument,
  state: InvoiceState,
  links: { pdf: string; expiresAt: string },
): string {
  const facts = document.facts
    .map(([label, value]) => `<tr><th scope="row">${esc(label)}</th><td>${esc(value)}</td></tr>`)
    .join('');
  const lines = document.lines
    .map(
      (line) =>
        `<tr><td>${esc(line.description)}${line.period ? `<div class="muted">${esc(line.period)}</div>` : ''}</td>` +
        `<td class="num">${esc(line.quantity)}</td><td class="num">${esc(line.unitPrice)}</td>` +
        `<td class="num">${esc(line.amount)}</td></tr>`,
    )
    .join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>Invoice ${esc(document.number)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>Invoice <span class="number">${esc(document.number)}</span></h1>
<p class="status status-${esc(state.status)}" id="status">${esc(state.statusLabel)}</p>
${document.issuer.length > 0 ? `<address class="issuer">${document.issuer.map(esc).join('<br>')}</address>` : ''}
</header>
<section class="parties">
<table class="facts">${facts}</table>
<div class="bill-to"><h2>Bill to</h2><p>${esc(document.billTo.name)}<br><span class="muted">${esc(document.billTo.email)}</span></p></div>
</section>
<table class="lines">
<thead><tr><th scope="col">Description</th><th scope="col" class="num">Qty</th><th scope="col" class="num">Unit price</th><th scope="col" class="num">Amount (${esc(document.currency)})</th></tr></thead>
<tbody>${lines}</tbody>
</table>
<table class="totals" id="totals">${totalRows(document.totals)}</table>
<h2>Where it stands</h2>
<table class="totals" id="state">${totalRows(state.rows)}</table>
<p class="actions"><a href="${esc(links.pdf)}">Download the PDF</a></p>
<p class="muted small">This link works until ${esc(links.expiresAt.slice(0, 16).replace('T', ' '))} UTC.</p>
</main>
</body>
</html>
`;
}

/** The headers every hosted page (and its error pages) is sent with. */
export const hostedPageHeaders = {
  'content-type': 'text/html; charset=utf-8',
  // No script, no plugin, nothing loaded from anywhere; inline style only; no framing.
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // The token is in the URL: never sent on to another site, never kept by a shared cache.
  'referrer-policy': 'no-referrer',
  'cache-control': 'private, no-store',
  'x-robots-tag': 'noindex, nofollow',
} as const;

/** A page that says what went wrong with the link (unknown, expired), in the page's own style. */
export function renderHostedErrorPage(title: string, message: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex, nofollow"><title>${esc(title)}</title><style>${STYLE}</style></head>
<body><main><h1>${esc(title)}</h1><p>${esc(message)}</p></main></body>
</html>
`;
}

function totalRows(rows: readonly DocumentTotal[]): string {
  return rows
    .map(
      (row) =>
        `<tr${row.emphasis ? ' class="strong"' : ''}><th scope="row">${esc(row.label)}</th><td class="num">${esc(row.amount)}</td></tr>`,
    )
    .join('');
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text as HTML text or a quoted attribute value: the five characters that could end either are escaped. */
export const esc = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const STYLE = `
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1a1a1a;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
main{max-width:820px;margin:24px auto;background:#fff;padding:32px 40px;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:12px 24px}
h1{margin:0;font-size:28px}
h2{font-size:16px;margin:28px 0 8px}
.number{font-weight:600}
.status{margin:0;padding:2px 10px;border-radius:12px;font-weight:600;background:#e8eaed}
.status-paid{background:#d3f3dc;color:#0b5d23}
.status-open{background:#dde8fb;color:#123f8c}
.status-void,.status-uncollectible{background:#fbe0e0;color:#8c1212}
.issuer{margin-left:auto;text-align:right;font-style:normal;color:#555}
.parties{display:flex;flex-wrap:wrap;gap:24px 64px;margin:24px 0}
.bill-to h2{margin:0 0 4px}
.bill-to p{margin:0}
table{border-collapse:collapse}
.facts th{text-align:left;padding:2px 16px 2px 0;font-weight:600}
.lines{width:100%;margin-top:8px}
.lines th{text-align:left;border-bottom:1px solid #999;padding:6px 4px;font-size:13px}
.lines td{padding:8px 4px;border-bottom:1px solid #eee;vertical-align:top}
.num{text-align:right;white-space:nowrap}
.lines th.num{text-align:right}
.totals{margin:12px 0 0 auto;min-width:340px}
.totals th{text-align:right;font-weight:400;padding:3px 16px}
.totals td{padding:3px 4px}
.totals tr.strong th,.totals tr.strong td{font-weight:700;font-size:16px}
.muted{color:#666}
.small{font-size:13px}
.actions a{display:inline-block;margin-top:20px;padding:8px 16px;background:#123f8c;color:#fff;border-radius:6px;text-decoration:none}
`;
