/** Longest error text a log line or status carries: the rest is cut (a driver can quote a whole statement). */
export const MAX_ERROR_TEXT = 1024;

/**
 * `text` on one line (every run of whitespace, newlines included, becomes
 * one space: a stack folded into a message cannot spill "    at" lines) and
 * at most `max` characters, with a marker saying how much was cut.
 */
export function oneLine(text: string, max = MAX_ERROR_TEXT): string {
  const flat = text.length > 8 * max ? text.slice(0, 8 * max) : text;
  const s = flat.replace(/\s+/g, ' ').trim();
  return s.length <= max ? s : `${s.slice(0, max)}… [${text.length - max} more characters cut]`;
}

/**
 * Error name and message only, on one bounded line: never stacks or payloads
 * in logs. A MySQL driver error is described by its code and the server's
 * own message (`sqlMessage`), never by the statement it carries (`sql`, and
 * knex prefixes the message with it).
 */
export function describeError(err: unknown): string {
  const e = err as { code?: unknown; sqlMessage?: unknown };
  if (err instanceof Error && typeof e.sqlMessage === 'string') return oneLine(`${err.name}: ${typeof e.code === 'string' ? e.code : ''} ${e.sqlMessage}`);
  if (err instanceof Error) return oneLine(`${err.name}: ${err.message}`);
  return oneLine(String(err));
}
