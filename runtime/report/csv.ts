/**
 * CSV files written beside a report (RFC 4180: comma-separated, CRLF line ends, a field
 * holding a comma, quote or line break quoted with its quotes doubled). Text that a
 * spreadsheet would run as a formula (leading =, +, -, @, tab or CR; OWASP's advice) is
 * prefixed with an apostrophe, since names in a trace are not ours to trust. Written here
 * rather than taken from a library: quoting is the whole of it.
 */

export type CsvField = string | number | null;

const FORMULA = /^[=+\-@\t\r]/;

function field(value: CsvField): string {
  if (value === null) return '';
  const text = typeof value === 'number' ? String(value) : value.replace(FORMULA, "'$&");
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A whole CSV document: the header, then one line per row. */
export function csvDocument(
  header: readonly string[],
  rows: readonly (readonly CsvField[])[],
): string {
  return [header, ...rows].map((row) => `${row.map(field).join(',')}\r\n`).join('');
}
