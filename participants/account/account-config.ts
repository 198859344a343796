import type { ParticipantTlsOptions } from '../../src/participant';
import {
  ConfigError,
  listenAddressVar,
  logLevelVar,
  tlsVar,
  optionalVar,
  seedVar,
  wholeNumberVar,
  type LogLevel,
} from '../shared/service-config';

/** The account service's configuration, read and validated once at start ({@link loadAccountConfig}). */
export interface AccountConfig {
  /** gRPC listen address (ACCOUNT_ADDR). Default `127.0.0.1:50061`; port 0 picks a free one. */
  readonly addr: string;
  /**
   * The service's OWN database (ACCOUNT_DB_URL), where the accounts and the
   * barrier table live side by side. Default `sqlite:./data/account.sqlite`;
   * `mysql://user:pass@host:3306/db` (or `mariadb://`) for MySQL/MariaDB.
   */
  readonly dbUrl: string;
  /**
   * Accounts created at start when absent (ACCOUNT_SEED, e.g. `alice=10000,bob=5000`,
   * balances in minor units). Existing accounts are left as they are. Default: none.
   */
  readonly seed: ReadonlyMap<string, number>;
  /** pino level (ACCOUNT_LOG_LEVEL). Default `info`. */
  readonly logLevel: LogLevel;
  /** TLS (ACCOUNT_TLS_CERT, _KEY, _CLIENT_CA, _REQUIRE_CLIENT_CERT; see tlsVar). Default: none (plaintext). */
  readonly tls?: ParticipantTlsOptions;
  /**
   * How long the barrier rows of a finished branch are kept (ACCOUNT_BARRIER_RETENTION_MS).
   * Default 604 800 000 (7 days), at least 60 000. Must exceed the longest time the
   * coordinator may still deliver a call for a branch (its phase-two retries back off
   * up to TCC_RETRY_MAX_MS): once the rows are gone a late Try would run again.
   */
  readonly barrierRetentionMs: number;
}

export const ACCOUNT_DEFAULT_ADDR = '127.0.0.1:50061';
export const ACCOUNT_DEFAULT_DB_URL = 'sqlite:./data/account.sqlite';
const DAY_MS = 24 * 60 * 60 * 1000;

/** `sqlite:<file>` or `mysql://` / `mariadb://` with a host and a database (what knexConfigFor parses). */
function dbUrlVar(env: NodeJS.ProcessEnv): string {
  const name = 'ACCOUNT_DB_URL';
  const url = optionalVar(env, name) ?? ACCOUNT_DEFAULT_DB_URL;
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    // In memory, balances would vanish with the process while the coordinator still holds their transactions.
    if (file === '' || file === ':memory:') throw new ConfigError(name, 'a SQLite URL needs a file path (in-memory storage is not durable)');
    return url;
  }
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError(name, 'not a valid mysql:// URL');
    }
    if (!parsed.hostname || parsed.pathname.replace(/^\//, '') === '') {
      throw new ConfigError(name, 'a MySQL URL needs a host and a database: mysql://user:pass@host:3306/db');
    }
    return url;
  }
  throw new ConfigError(name, 'expected sqlite:<file> or mysql://user:pass@host:port/db');
}

/** Reads and validates the configuration; throws ConfigError (naming the variable) on the first bad value. */
export function loadAccountConfig(env: NodeJS.ProcessEnv = process.env): AccountConfig {
  return {
    addr: listenAddressVar(env, 'ACCOUNT_ADDR', ACCOUNT_DEFAULT_ADDR),
    dbUrl: dbUrlVar(env),
    seed: seedVar(env, 'ACCOUNT_SEED'),
    logLevel: logLevelVar(env, 'ACCOUNT_LOG_LEVEL'),
    tls: tlsVar(env, 'ACCOUNT'),
    barrierRetentionMs: wholeNumberVar(env, 'ACCOUNT_BARRIER_RETENTION_MS', 7 * DAY_MS, 60_000, 3650 * DAY_MS),
  };
}
