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

/** The inventory service's configuration, read and validated once at start ({@link loadInventoryConfig}). */
export interface InventoryConfig {
  /** gRPC listen address (INVENTORY_ADDR). Default `127.0.0.1:50062`; port 0 picks a free one. */
  readonly addr: string;
  /** Redis holding the stock and the barrier records (INVENTORY_REDIS_URL). Default `redis://127.0.0.1:6379`; `rediss://` for TLS. */
  readonly redisUrl: string;
  /**
   * Prefix of every key the service writes (INVENTORY_KEY_PREFIX). Default `inventory:`.
   * Stock of SKU `x` is the hash `<prefix>stock:x` (fields available, reserved, sold);
   * barrier records are `<prefix>barrier:<gid>/<branch_id>`. May be empty.
   */
  readonly keyPrefix: string;
  /**
   * SKUs whose stock is created at start when absent (INVENTORY_SEED, e.g. `widget=10,gadget=3`:
   * available units). Existing SKUs are left as they are. Default: none.
   */
  readonly seed: ReadonlyMap<string, number>;
  /** pino level (INVENTORY_LOG_LEVEL). Default `info`. */
  readonly logLevel: LogLevel;
  /** TLS (INVENTORY_TLS_CERT, _KEY, _CLIENT_CA, _REQUIRE_CLIENT_CERT; see tlsVar). Default: none (plaintext). */
  readonly tls?: ParticipantTlsOptions;
  /**
   * How long the barrier record of a finished branch is kept (INVENTORY_BARRIER_TTL_MS).
   * Default 604 800 000 (7 days), at least 60 000. Must exceed the longest time the
   * coordinator may still deliver a call for a branch; a record of a branch still
   * waiting for phase two never expires.
   */
  readonly barrierTtlMs: number;
}

export const INVENTORY_DEFAULT_ADDR = '127.0.0.1:50062';
export const INVENTORY_DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const INVENTORY_DEFAULT_KEY_PREFIX = 'inventory:';
const DAY_MS = 24 * 60 * 60 * 1000;

/** Reads and validates the configuration; throws ConfigError (naming the variable) on the first bad value. */
export function loadInventoryConfig(env: NodeJS.ProcessEnv = process.env): InventoryConfig {
  const redisUrl = optionalVar(env, 'INVENTORY_REDIS_URL') ?? INVENTORY_DEFAULT_REDIS_URL;
  if (!/^rediss?:\/\/[^/]/.test(redisUrl)) throw new ConfigError('INVENTORY_REDIS_URL', 'expected redis://host:port[/db] or rediss://');

  // Not trimmed away to the default when set: an explicitly empty prefix is a choice. Whitespace is refused (a copy-paste slip).
  const rawPrefix = env.INVENTORY_KEY_PREFIX;
  const keyPrefix = rawPrefix === undefined ? INVENTORY_DEFAULT_KEY_PREFIX : rawPrefix;
  if (!/^\S{0,100}$/.test(keyPrefix)) throw new ConfigError('INVENTORY_KEY_PREFIX', 'expected at most 100 characters, no whitespace');

  return {
    addr: listenAddressVar(env, 'INVENTORY_ADDR', INVENTORY_DEFAULT_ADDR),
    redisUrl,
    keyPrefix,
    seed: seedVar(env, 'INVENTORY_SEED'),
    logLevel: logLevelVar(env, 'INVENTORY_LOG_LEVEL'),
    tls: tlsVar(env, 'INVENTORY'),
    barrierTtlMs: wholeNumberVar(env, 'INVENTORY_BARRIER_TTL_MS', 7 * DAY_MS, 60_000, 3650 * DAY_MS),
  };
}
