import * as os from 'node:os';
import { CRASH_POINTS, type CrashPoint } from '../engine/crash-points';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The coordinator's configuration, read and validated once at start ({@link loadConfig}). */
export interface Config {
  /** gRPC listen address (TCC_GRPC_ADDR). Default `127.0.0.1:50051`; port 0 picks a free one. */
  grpcAddr: string;
  /** Database URL (TCC_DB_URL). Default `sqlite:./data/tcc.sqlite`; `mysql://user:pass@host:3306/db` for MySQL/MariaDB. */
  dbUrl: string;
  /** Redis URL (TCC_REDIS_URL). Optional: correctness never rests on Redis. */
  redisUrl?: string;
  /** Admin bearer token (TCC_ADMIN_TOKEN). Optional; when set, Admin calls without it get UNAUTHENTICATED. */
  adminToken?: string;
  /** pino level (TCC_LOG_LEVEL). Default `info`. */
  logLevel: LogLevel;
  /** Transaction timeout when Begin/Execute give none (TCC_DEFAULT_TIMEOUT_MS). Default 60 000. */
  defaultTimeoutMs: number;
  /** Largest transaction timeout a client may ask for (TCC_MAX_TIMEOUT_MS). Default 3 600 000 (1 h). */
  maxTimeoutMs: number;
  /** Deadline of each call to a participant (TCC_BRANCH_TIMEOUT_MS). Default 5 000. */
  branchTimeoutMs: number;
  /** Largest branch payload in bytes (TCC_MAX_PAYLOAD_BYTES). Default 65 536. */
  maxPayloadBytes: number;
  /** Most branches one transaction may register (TCC_MAX_BRANCHES). Default 64. */
  maxBranches: number;
  /** First phase-two retry delay (TCC_RETRY_INITIAL_MS). Default 1 000; doubles per attempt. */
  retryInitialMs: number;
  /** Cap of the phase-two retry delay (TCC_RETRY_MAX_MS). Default 300 000 (5 min). */
  retryMaxMs: number;
  /** Longest time between two recovery sweeps (TCC_SWEEP_INTERVAL_MS). Default 1 000. */
  sweepIntervalMs: number;
  /** Longest a `wait` Commit/Rollback/Execute waits when the call has no deadline (TCC_MAX_WAIT_MS). Default 30 000. */
  maxWaitMs: number;
  /** How long SIGTERM waits for in-flight calls before closing (TCC_SHUTDOWN_GRACE_MS). Default 10 000. */
  shutdownGraceMs: number;
  /** This process's name in tcc_logs and logs (TCC_NODE_ID). Default `<hostname>-<pid>`. */
  nodeId: string;
  /** Phase-two attempts of one branch after which its transaction is flagged stuck (TCC_STUCK_AFTER_ATTEMPTS). Default 10. */
  stuckAfterAttempts: number;
  /** Decided-but-unfinished age after which a transaction is flagged stuck (TCC_STUCK_AFTER_MS). Default 600 000 (10 min); 0 = no age limit. */
  stuckAfterMs: number;
  /** URL a JSON alert is POSTed to when a transaction is flagged stuck (TCC_ALERT_WEBHOOK_URL). Optional. */
  alertWebhookUrl?: string;
  /** Most Confirm/Cancel calls (client-started phase two and recovery) in flight per participant target, per process (TCC_RECOVERY_CONCURRENCY_PER_TARGET); a call with no free slot is deferred. Default 8. */
  recoveryConcurrencyPerTarget: number;
  /** Finished transactions older than this are deleted (TCC_RETENTION_MS). Default 604 800 000 (7 days); 0 = keep forever. */
  retentionMs: number;
  /** Time between two retention runs (TCC_RETENTION_INTERVAL_MS). Default 600 000 (10 min). */
  retentionIntervalMs: number;
  /** Transactions deleted per batch by retention (TCC_RETENTION_BATCH). Default 500. */
  retentionBatch: number;
  /** Where Prometheus metrics are served over HTTP at /metrics (TCC_METRICS_ADDR, `host:port`). Optional: off by default. */
  metricsAddr?: string;
  /** Testing only (TCC_FAULT_CRASH_AT): the process SIGKILLs itself at this protocol step. Never set in production. */
  crashAt?: CrashPoint;
}

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function str(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** `host:port` with a port 0-65535; a bracketed IPv6 host is allowed. */
export function isListenAddress(addr: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(addr);
  return m !== null && Number(m[2]) <= 65535;
}

function validateDbUrl(url: string): string {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file === '' || file === ':memory:') {
      throw new ConfigError('TCC_DB_URL', 'a SQLite URL needs a file path (in-memory storage is not durable)');
    }
    return url;
  }
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError('TCC_DB_URL', 'not a valid mysql:// URL');
    }
    if (!parsed.hostname || parsed.pathname.replace(/^\//, '') === '') {
      throw new ConfigError('TCC_DB_URL', 'a MySQL URL needs a host and a database: mysql://user:pass@host:3306/db');
    }
    return url;
  }
  throw new ConfigError('TCC_DB_URL', 'expected sqlite:<file> or mysql://user:pass@host:port/db');
}

/** Reads and validates the configuration; throws {@link ConfigError} on the first bad value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const grpcAddr = str(env, 'TCC_GRPC_ADDR') ?? '127.0.0.1:50051';
  if (!isListenAddress(grpcAddr)) throw new ConfigError('TCC_GRPC_ADDR', `expected host:port, got "${grpcAddr}"`);

  const dbUrl = validateDbUrl(str(env, 'TCC_DB_URL') ?? 'sqlite:./data/tcc.sqlite');

  const redisUrl = str(env, 'TCC_REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError('TCC_REDIS_URL', 'expected redis://host:port[/db] or rediss://');
  }

  const adminToken = str(env, 'TCC_ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('TCC_ADMIN_TOKEN', 'must be at least 16 characters');
  }

  const logLevel = (str(env, 'TCC_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('TCC_LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}`);
  }

  const maxTimeoutMs = int(env, 'TCC_MAX_TIMEOUT_MS', 3_600_000, 1_000, 7 * 24 * 3_600_000);
  const defaultTimeoutMs = int(env, 'TCC_DEFAULT_TIMEOUT_MS', Math.min(60_000, maxTimeoutMs), 100, maxTimeoutMs);
  const branchTimeoutMs = int(env, 'TCC_BRANCH_TIMEOUT_MS', 5_000, 10, 600_000);
  const maxPayloadBytes = int(env, 'TCC_MAX_PAYLOAD_BYTES', 65_536, 0, 4 * 1024 * 1024);
  const maxBranches = int(env, 'TCC_MAX_BRANCHES', 64, 1, 1_000);
  const retryInitialMs = int(env, 'TCC_RETRY_INITIAL_MS', 1_000, 1, 3_600_000);
  const retryMaxMs = int(env, 'TCC_RETRY_MAX_MS', 300_000, retryInitialMs, 24 * 3_600_000);
  const sweepIntervalMs = int(env, 'TCC_SWEEP_INTERVAL_MS', 1_000, 10, 600_000);
  const maxWaitMs = int(env, 'TCC_MAX_WAIT_MS', 30_000, 0, 3_600_000);
  const shutdownGraceMs = int(env, 'TCC_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000);

  const nodeId = str(env, 'TCC_NODE_ID') ?? `${os.hostname()}-${process.pid}`;
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(nodeId)) {
    throw new ConfigError('TCC_NODE_ID', 'expected 1-64 characters of A-Z a-z 0-9 . _ : -');
  }

  const stuckAfterAttempts = int(env, 'TCC_STUCK_AFTER_ATTEMPTS', 10, 1, 1_000_000);
  const stuckAfterMs = int(env, 'TCC_STUCK_AFTER_MS', 600_000, 0, 30 * 24 * 3_600_000);
  const alertWebhookUrl = str(env, 'TCC_ALERT_WEBHOOK_URL');
  if (alertWebhookUrl !== undefined && !isHttpUrl(alertWebhookUrl)) {
    throw new ConfigError('TCC_ALERT_WEBHOOK_URL', 'expected an http:// or https:// URL');
  }
  const recoveryConcurrencyPerTarget = int(env, 'TCC_RECOVERY_CONCURRENCY_PER_TARGET', 8, 1, 1_000);
  const retentionMs = int(env, 'TCC_RETENTION_MS', 7 * 24 * 3_600_000, 0, 10 * 365 * 24 * 3_600_000);
  if (retentionMs > 0 && retentionMs < 1_000) throw new ConfigError('TCC_RETENTION_MS', 'must be 0 (keep forever) or at least 1000');
  const retentionIntervalMs = int(env, 'TCC_RETENTION_INTERVAL_MS', 600_000, 1_000, 24 * 3_600_000);
  const retentionBatch = int(env, 'TCC_RETENTION_BATCH', 500, 1, 10_000);
  const metricsAddr = str(env, 'TCC_METRICS_ADDR');
  if (metricsAddr !== undefined && !isListenAddress(metricsAddr)) {
    throw new ConfigError('TCC_METRICS_ADDR', `expected host:port, got "${metricsAddr}"`);
  }
  const crashAtRaw = str(env, 'TCC_FAULT_CRASH_AT');
  if (crashAtRaw !== undefined && !(CRASH_POINTS as readonly string[]).includes(crashAtRaw)) {
    throw new ConfigError('TCC_FAULT_CRASH_AT', `expected one of ${CRASH_POINTS.join(', ')}`);
  }

  return {
    grpcAddr,
    dbUrl,
    redisUrl,
    adminToken,
    logLevel,
    defaultTimeoutMs,
    maxTimeoutMs,
    branchTimeoutMs,
    maxPayloadBytes,
    maxBranches,
    retryInitialMs,
    retryMaxMs,
    sweepIntervalMs,
    maxWaitMs,
    shutdownGraceMs,
    nodeId,
    stuckAfterAttempts,
    stuckAfterMs,
    alertWebhookUrl,
    recoveryConcurrencyPerTarget,
    retentionMs,
    retentionIntervalMs,
    retentionBatch,
    metricsAddr,
    crashAt: crashAtRaw as CrashPoint | undefined,
  };
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
