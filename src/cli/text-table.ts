/** Plain-text tables and safe single-line text for terminal output. */

/**
 * Text that came from the coordinator (participants' error messages, reasons
 * typed by other operators) as one line without control characters: an
 * escape sequence in a participant's error must not reach the operator's
 * terminal, and a newline would break the one-line-per-row layout.
 */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** At most `max` characters, the cut marked with `…`. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** Options of {@link renderTable}. */
export interface TableOptions {
  /** Indexes of columns aligned right (counts, durations). Default none. */
  alignRight?: readonly number[];
  /** Prefix of every line. Default `''`. */
  indent?: string;
}

/**
 * Columns padded to their widest cell, two spaces apart. The last column is
 * not padded, so no line ends in spaces and long free text (errors) does not
 * widen the others.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[], options: TableOptions = {}): string[] {
  const right = new Set(options.alignRight ?? []);
  const indent = options.indent ?? '';
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((row) => {
    const cells = headers.map((_, i) => {
      const cell = row[i] ?? '';
      if (i === headers.length - 1 && !right.has(i)) return cell;
      return right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
    });
    return indent + cells.join('  ').trimEnd();
  });
}
