/** Parsing and printing of time spans for tccctl (`--older-than 10m`, ages, retry times). */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `500`, `500ms`, `30s`, `10m`, `2h`, `1d` → milliseconds; undefined when it
 * is none of these. A bare number is milliseconds, like every `*_ms` field of
 * the API, so a value copied from one works here unchanged.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? 'ms'];
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** A span for people: `350ms`, `12.3s`, `5m10s`, `2h05m`, `3d04h`. */
export function formatDuration(ms: number): string {
  const v = Math.max(0, Math.round(ms));
  if (v < 1_000) return `${v}ms`;
  if (v < 60_000) return `${(v / 1_000).toFixed(v < 10_000 ? 2 : 1)}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (v < 3_600_000) return `${Math.floor(v / 60_000)}m${pad(Math.floor((v % 60_000) / 1_000))}s`;
  if (v < 86_400_000) return `${Math.floor(v / 3_600_000)}h${pad(Math.floor((v % 3_600_000) / 60_000))}m`;
  return `${Math.floor(v / 86_400_000)}d${pad(Math.floor((v % 86_400_000) / 3_600_000))}h`;
}

/** `in 1.20s` / `due` (past or now) / `-` (0: none scheduled), relative to `now`. */
export function formatDueIn(unixMs: number, now: number): string {
  if (!unixMs) return '-';
  return unixMs > now ? `in ${formatDuration(unixMs - now)}` : 'due';
}

/** ISO 8601 UTC, or `-` for 0 (proto3's "not set"). */
export function formatInstant(unixMs: number): string {
  return unixMs ? new Date(unixMs).toISOString() : '-';
}
