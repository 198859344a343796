/**
 * Reading the example services' environment: each helper reads one variable,
 * validates it and throws the coordinator's {@link ConfigError} (its message
 * names the variable) on the first bad value, so a service stops at start
 * instead of misbehaving on its first call.
 */
import { ConfigError, isListenAddress, type LogLevel } from '../../src/config/config';
import type { ParticipantTlsOptions } from '../../src/participant';

export { ConfigError, type LogLevel };

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Ids of business objects (accounts, SKUs) the examples accept, in payloads
 * and seeds: 1-64 of `A-Z a-z 0-9 . _ : -`, the coordinator's own id charset.
 * Narrow on purpose: ids end up in SQL keys (compared byte for byte) and Redis
 * key names.
 */
export const BUSINESS_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The variable's trimmed value; undefined when unset or blank. */
export function optionalVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** A gRPC listen address `host:port` (port 0 picks a free one). */
export function listenAddressVar(env: NodeJS.ProcessEnv, name: string, dflt: string): string {
  const addr = optionalVar(env, name) ?? dflt;
  if (!isListenAddress(addr)) throw new ConfigError(name, `expected host:port, got "${addr}"`);
  return addr;
}

/** A pino level; default `info`. */
export function logLevelVar(env: NodeJS.ProcessEnv, name: string): LogLevel {
  const level = (optionalVar(env, name) ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new ConfigError(name, `expected one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

/** A whole number within [min, max]. */
export function wholeNumberVar(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number, max: number): number {
  const raw = optionalVar(env, name);
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/**
 * A seed list `id=quantity,id=quantity` (e.g. `alice=10000,bob=5000`):
 * ids per {@link BUSINESS_ID}, quantities whole numbers from 0 to 2^53-1,
 * each id once. Unset or blank: no seed.
 */
export function seedVar(env: NodeJS.ProcessEnv, name: string): ReadonlyMap<string, number> {
  const raw = optionalVar(env, name);
  const seed = new Map<string, number>();
  if (raw === undefined) return seed;
  for (const entry of raw.split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*(\d+)\s*$/.exec(entry);
    if (!m) throw new ConfigError(name, `expected id=quantity[,id=quantity...], got "${entry.trim()}"`);
    const [, id, qty] = m;
    if (!BUSINESS_ID.test(id)) throw new ConfigError(name, `id "${id}": expected 1-64 of A-Z a-z 0-9 . _ : -`);
    const n = Number(qty);
    if (!Number.isSafeInteger(n)) throw new ConfigError(name, `quantity of "${id}" is above 2^53-1`);
    if (seed.has(id)) throw new ConfigError(name, `"${id}" is listed twice`);
    seed.set(id, n);
  }
  return seed;
}

/** The URL with its password (and user) masked, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1***@');
}

/**
 * TLS of an example participant from `<PREFIX>_TLS_CERT`, `<PREFIX>_TLS_KEY`
 * (set together: TLS on), `<PREFIX>_TLS_CLIENT_CA` (verifies the
 * coordinator's client certificate) and `<PREFIX>_TLS_REQUIRE_CLIENT_CERT`
 * (`true`/`false`; default `true` when a client CA is set). Unset: plaintext.
 */
export function tlsVar(env: NodeJS.ProcessEnv, prefix: string): ParticipantTlsOptions | undefined {
  const certFile = optionalVar(env, `${prefix}_TLS_CERT`);
  const keyFile = optionalVar(env, `${prefix}_TLS_KEY`);
  const clientCaFile = optionalVar(env, `${prefix}_TLS_CLIENT_CA`);
  const requireRaw = optionalVar(env, `${prefix}_TLS_REQUIRE_CLIENT_CERT`);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(`${prefix}_TLS_CERT`, `${prefix}_TLS_CERT and ${prefix}_TLS_KEY are set together`);
  }
  if (requireRaw !== undefined && requireRaw !== 'true' && requireRaw !== 'false') {
    throw new ConfigError(`${prefix}_TLS_REQUIRE_CLIENT_CERT`, 'expected true or false');
  }
  if (certFile === undefined || keyFile === undefined) {
    if (clientCaFile !== undefined) throw new ConfigError(`${prefix}_TLS_CLIENT_CA`, `needs ${prefix}_TLS_CERT and ${prefix}_TLS_KEY`);
    return undefined;
  }
  const requireClientCert = requireRaw === undefined ? clientCaFile !== undefined : requireRaw === 'true';
  if (requireClientCert && clientCaFile === undefined) {
    throw new ConfigError(`${prefix}_TLS_REQUIRE_CLIENT_CERT`, `needs ${prefix}_TLS_CLIENT_CA to verify client certificates`);
  }
  return { certFile, keyFile, clientCaFile, requireClientCert };
}
