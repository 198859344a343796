import * as os from 'node:os';
import { CRASH_POINTS, type CrashPoint } from '../engine/crash-points';
import { ParticipantAllowlist } from '../engine/participant-allowlist';
import type { ParticipantTransport } from '../engine/participant-caller';

export type ClientAuthMode = 'token' | 'mtls';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Where spans go, when tracing is on (from the standard OTEL_* variables, {@link loadTracingConfig}). */
export interface TracingSettings {
  /** OTLP/HTTP traces URL (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`). */
  endpoint: string;
  /** `service.name` of the spans (OTEL_SERVICE_NAME). Default: the program's own name. */
  serviceName: string;
}

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
  /** Most Confirm/Cancel calls (client-started phase two and recovery) in flight per participant target, per process (TCC_RECOVERY_CONCURRENCY_PER_TARGET); a call with no free slot is deferred. Default 256. */
  recoveryConcurrencyPerTarget: number;
  /** Finished transactions older than this are deleted (TCC_RETENTION_MS). Default 604 800 000 (7 days); 0 = keep forever. */
  retentionMs: number;
  /** Time between two retention runs (TCC_RETENTION_INTERVAL_MS). Default 600 000 (10 min). */
  retentionIntervalMs: number;
  /** Transactions deleted per batch by retention (TCC_RETENTION_BATCH). Default 500. */
  retentionBatch: number;
  /** Where Prometheus metrics are served over HTTP at /metrics (TCC_METRICS_ADDR, `host:port`). Optional: off by default. */
  metricsAddr?: string;
  /**
   * Participant targets the metrics label by name (TCC_METRICS_PARTICIPANTS, comma-separated).
   * Default: none, then the first `metricsMaxParticipants` targets seen; every other target is `other`.
   */
  metricsParticipants: string[];
  /** Without an allowlist, most participant targets labelled by name in metrics (TCC_METRICS_MAX_PARTICIPANTS). Default 50. */
  metricsMaxParticipants: number;
  /** How long the in-flight gauges' database query is reused (TCC_METRICS_CACHE_MS). Default 5 000. */
  metricsCacheMs: number;
  /** How often the health service pings the database (TCC_HEALTH_CHECK_INTERVAL_MS). Default 2 000. */
  healthCheckIntervalMs: number;
  /** OpenTelemetry tracing; off (undefined) unless an OTLP endpoint is set. See {@link loadTracingConfig}. */
  tracing?: TracingSettings;
  /**
   * Most store commands waiting for a group-commit batch before client calls
   * are refused with RESOURCE_EXHAUSTED (TCC_STORE_QUEUE_MAX). Default 10 000;
   * at least TCC_MAX_BRANCHES + 1 (an Execute's decision write).
   */
  storeQueueMax: number;
  /**
   * How long a transaction's final CONFIRMED/CANCELLED write may wait to ride
   * in a group-commit batch other work starts, ms (TCC_FINAL_WRITE_DELAY_MS),
   * when every branch answered and no caller waits for the answer (wait=false;
   * a wait=true answer always follows the durable write). Saves a durable
   * commit per transaction at low concurrency; a crash meanwhile costs a
   * repeated, idempotent Confirm/Cancel after the claim's lease. 0: written
   * at once. Default 20.
   */
  finalWriteDelayMs: number;
  /**
   * Longest one database call (a batch transaction or a read) may take before
   * its connection is closed and the call fails (TCC_DB_STATEMENT_TIMEOUT_MS).
   * Default 30 000.
   */
  dbStatementTimeoutMs: number;
  /**
   * SQLite: start even though the marker file next to the database
   * (`.<file name>.tcc-id`) names a database that is not at TCC_DB_URL's path
   * (deleted, emptied or swapped), using the one there or a new empty one, and
   * re-point the marker at it (TCC_DB_INITIALIZE=true). Default false: such a
   * start is refused (exit code 2), because the transactions recorded in the
   * missing database would never be finished. A first start on a fresh path
   * needs no flag.
   */
  dbInitialize: boolean;
  /** Most client connections open at once (TCC_GRPC_MAX_CONNECTIONS). Default 1 000; more are closed on accept. */
  grpcMaxConnections: number;
  /** Most concurrent calls (HTTP/2 streams) on one connection (TCC_GRPC_MAX_CONCURRENT_STREAMS). Default 100. */
  grpcMaxConcurrentStreams: number;
  /** A new connection must complete its TLS/HTTP/2 handshake within this (TCC_GRPC_HANDSHAKE_TIMEOUT_MS). Default 10 000. */
  grpcHandshakeTimeoutMs: number;
  /** A connection with no call for this long is closed (TCC_GRPC_IDLE_TIMEOUT_MS). Default 300 000 (5 min). */
  grpcIdleTimeoutMs: number;
  /** A connection older than this is asked to reconnect (TCC_GRPC_MAX_CONNECTION_AGE_MS). Default 1 800 000 (30 min). */
  grpcMaxConnectionAgeMs: number;
  /** Time calls get to finish after that before the connection is cut (TCC_GRPC_MAX_CONNECTION_AGE_GRACE_MS). Default 60 000. */
  grpcMaxConnectionAgeGraceMs: number;
  /** Server pings an idle connection this often to find dead peers (TCC_GRPC_KEEPALIVE_TIME_MS). Default 60 000. */
  grpcKeepaliveTimeMs: number;
  /** PEM certificate chain of the gRPC server (TCC_TLS_CERT). Optional; with {@link tlsKey} it turns TLS on. */
  tlsCert?: string;
  /** PEM private key of {@link tlsCert} (TCC_TLS_KEY). Optional. */
  tlsKey?: string;
  /** PEM CA bundle (TCC_TLS_CLIENT_CA). Optional; when set, clients must present a certificate it signed (mutual TLS). */
  tlsClientCa?: string;
  /** PEM CA bundle that verifies participants (TCC_PARTICIPANT_TLS_CA). Optional; when set every participant call uses TLS. */
  participantTlsCa?: string;
  /** PEM client certificate presented to participants (TCC_PARTICIPANT_TLS_CERT). Optional; needs the CA and the key. */
  participantTlsCert?: string;
  /** PEM private key of {@link participantTlsCert} (TCC_PARTICIPANT_TLS_KEY). Optional. */
  participantTlsKey?: string;
  /**
   * How Try/Confirm/Cancel reach participants (TCC_PARTICIPANT_TRANSPORT). Default `stream`: as
   * messages on a few long-lived tcc.v1.Participant/Calls streams per target (far less CPU per
   * call), falling back to the unary methods, per target, for a participant without Calls;
   * `unary`: one unary call each, never streams.
   */
  participantTransport: ParticipantTransport;
  /**
   * Participant targets clients may name (TCC_PARTICIPANT_ALLOW: comma-separated `host:port`
   * with names, `*.domain`, addresses, CIDRs or `*`, and ports, ranges or `*`). Default: any.
   */
  participantAllowlist?: ParticipantAllowlist;
  /**
   * Serve the Admin API on a non-loopback address without TCC_ADMIN_TOKEN
   * (TCC_ALLOW_UNAUTHENTICATED_ADMIN=true). Default false: such a start is refused.
   */
  allowUnauthenticatedAdmin: boolean;
  /**
   * How Coordinator calls authenticate (TCC_CLIENT_AUTH): `none`, `token`, `mtls` or `token,mtls`
   * (either). Default `token` when TCC_CLIENT_TOKENS is set, else `none`. With any of them a
   * transaction is readable and decidable only by the identity that began it.
   */
  clientAuth: ClientAuthMode[];
  /** Client identity by bearer token (TCC_CLIENT_TOKENS: `identity=token,...`; tokens 16+ characters). Default none. */
  clientTokens: ReadonlyMap<string, string>;
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

/** 127.0.0.0/8, ::1 or localhost: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
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

/**
 * Tracing from the standard OpenTelemetry variables. Off by default; on when
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set,
 * unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Only the
 * OTLP/HTTP exporter is built in (OTEL_TRACES_EXPORTER, when set, must be
 * `otlp`). The exporter itself also honours OTEL_EXPORTER_OTLP_HEADERS and
 * OTEL_EXPORTER_OTLP_TIMEOUT.
 */
export function loadTracingConfig(env: NodeJS.ProcessEnv, defaultServiceName: string): TracingSettings | undefined {
  const disabled = str(env, 'OTEL_SDK_DISABLED');
  if (disabled !== undefined && !['true', 'false'].includes(disabled.toLowerCase())) {
    throw new ConfigError('OTEL_SDK_DISABLED', 'expected true or false');
  }
  const exporter = str(env, 'OTEL_TRACES_EXPORTER');
  if (exporter !== undefined && exporter !== 'otlp' && exporter !== 'none') {
    throw new ConfigError('OTEL_TRACES_EXPORTER', 'expected otlp or none (only the OTLP/HTTP exporter is built in)');
  }
  const tracesEndpoint = str(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const baseEndpoint = str(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  for (const [name, v] of [
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', tracesEndpoint],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', baseEndpoint],
  ] as const) {
    if (v !== undefined && !isHttpUrl(v)) throw new ConfigError(name, 'expected an http:// or https:// URL');
  }
  if (disabled?.toLowerCase() === 'true' || exporter === 'none') return undefined;
  const endpoint = tracesEndpoint ?? (baseEndpoint ? `${baseEndpoint.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (endpoint === undefined) return undefined;
  const serviceName = str(env, 'OTEL_SERVICE_NAME') ?? defaultServiceName;
  return { endpoint, serviceName };
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
  const recoveryConcurrencyPerTarget = int(env, 'TCC_RECOVERY_CONCURRENCY_PER_TARGET', 256, 1, 1_000);
  const retentionMs = int(env, 'TCC_RETENTION_MS', 7 * 24 * 3_600_000, 0, 10 * 365 * 24 * 3_600_000);
  if (retentionMs > 0 && retentionMs < 1_000) throw new ConfigError('TCC_RETENTION_MS', 'must be 0 (keep forever) or at least 1000');
  const retentionIntervalMs = int(env, 'TCC_RETENTION_INTERVAL_MS', 600_000, 1_000, 24 * 3_600_000);
  const retentionBatch = int(env, 'TCC_RETENTION_BATCH', 500, 1, 10_000);
  const metricsAddr = str(env, 'TCC_METRICS_ADDR');
  if (metricsAddr !== undefined && !isListenAddress(metricsAddr)) {
    throw new ConfigError('TCC_METRICS_ADDR', `expected host:port, got "${metricsAddr}"`);
  }
  const metricsParticipants = (str(env, 'TCC_METRICS_PARTICIPANTS') ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (metricsParticipants.some((t) => t.length > 255 || /\s/.test(t))) {
    throw new ConfigError('TCC_METRICS_PARTICIPANTS', 'expected comma-separated targets without spaces, each at most 255 characters');
  }
  const metricsMaxParticipants = int(env, 'TCC_METRICS_MAX_PARTICIPANTS', 50, 1, 10_000);
  const metricsCacheMs = int(env, 'TCC_METRICS_CACHE_MS', 5_000, 0, 600_000);
  const healthCheckIntervalMs = int(env, 'TCC_HEALTH_CHECK_INTERVAL_MS', 2_000, 100, 600_000);
  const storeQueueMax = int(env, 'TCC_STORE_QUEUE_MAX', 10_000, maxBranches + 1, 10_000_000);
  const finalWriteDelayMs = int(env, 'TCC_FINAL_WRITE_DELAY_MS', 20, 0, 10_000);
  const dbStatementTimeoutMs = int(env, 'TCC_DB_STATEMENT_TIMEOUT_MS', 30_000, 100, 3_600_000);
  const dbInitializeRaw = str(env, 'TCC_DB_INITIALIZE') ?? 'false';
  if (dbInitializeRaw !== 'true' && dbInitializeRaw !== 'false') throw new ConfigError('TCC_DB_INITIALIZE', 'expected true or false');
  const dbInitialize = dbInitializeRaw === 'true';
  const grpcMaxConnections = int(env, 'TCC_GRPC_MAX_CONNECTIONS', 1_000, 1, 1_000_000);
  const grpcMaxConcurrentStreams = int(env, 'TCC_GRPC_MAX_CONCURRENT_STREAMS', 100, 1, 100_000);
  const grpcHandshakeTimeoutMs = int(env, 'TCC_GRPC_HANDSHAKE_TIMEOUT_MS', 10_000, 100, 600_000);
  const grpcIdleTimeoutMs = int(env, 'TCC_GRPC_IDLE_TIMEOUT_MS', 300_000, 100, 24 * 3_600_000);
  const grpcMaxConnectionAgeMs = int(env, 'TCC_GRPC_MAX_CONNECTION_AGE_MS', 1_800_000, 1_000, 30 * 24 * 3_600_000);
  const grpcMaxConnectionAgeGraceMs = int(env, 'TCC_GRPC_MAX_CONNECTION_AGE_GRACE_MS', 60_000, 0, 24 * 3_600_000);
  const grpcKeepaliveTimeMs = int(env, 'TCC_GRPC_KEEPALIVE_TIME_MS', 60_000, 1_000, 24 * 3_600_000);
  const tlsCert = str(env, 'TCC_TLS_CERT');
  const tlsKey = str(env, 'TCC_TLS_KEY');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError(tlsCert === undefined ? 'TCC_TLS_CERT' : 'TCC_TLS_KEY', 'TCC_TLS_CERT and TCC_TLS_KEY are set together');
  }
  const tlsClientCa = str(env, 'TCC_TLS_CLIENT_CA');
  if (tlsClientCa !== undefined && tlsCert === undefined) {
    throw new ConfigError('TCC_TLS_CLIENT_CA', 'client certificates need TLS: set TCC_TLS_CERT and TCC_TLS_KEY too');
  }
  const participantTlsCa = str(env, 'TCC_PARTICIPANT_TLS_CA');
  const participantTlsCert = str(env, 'TCC_PARTICIPANT_TLS_CERT');
  const participantTlsKey = str(env, 'TCC_PARTICIPANT_TLS_KEY');
  if ((participantTlsCert === undefined) !== (participantTlsKey === undefined)) {
    throw new ConfigError(
      participantTlsCert === undefined ? 'TCC_PARTICIPANT_TLS_CERT' : 'TCC_PARTICIPANT_TLS_KEY',
      'TCC_PARTICIPANT_TLS_CERT and TCC_PARTICIPANT_TLS_KEY are set together',
    );
  }
  if (participantTlsCert !== undefined && participantTlsCa === undefined) {
    throw new ConfigError('TCC_PARTICIPANT_TLS_CERT', 'a client certificate is only sent over TLS: set TCC_PARTICIPANT_TLS_CA too');
  }
  const participantTransport = (str(env, 'TCC_PARTICIPANT_TRANSPORT') ?? 'stream') as ParticipantTransport;
  if (participantTransport !== 'stream' && participantTransport !== 'unary') {
    throw new ConfigError('TCC_PARTICIPANT_TRANSPORT', 'expected stream or unary');
  }
  const clientTokens = new Map<string, string>();
  for (const entry of (str(env, 'TCC_CLIENT_TOKENS') ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9._@:-]{1,64})=([\x21-\x7e]{16,})$/.exec(entry);
    if (!m) throw new ConfigError('TCC_CLIENT_TOKENS', 'expected identity=token pairs (identity: 1-64 of A-Z a-z 0-9 . _ @ : -; token: 16+ printable characters)');
    if ([...clientTokens.values()].includes(m[1])) throw new ConfigError('TCC_CLIENT_TOKENS', `identity ${m[1]} is listed twice`);
    if (clientTokens.has(m[2])) throw new ConfigError('TCC_CLIENT_TOKENS', 'two identities share a token');
    clientTokens.set(m[2], m[1]);
  }
  const clientAuthRaw = str(env, 'TCC_CLIENT_AUTH') ?? (clientTokens.size > 0 ? 'token' : 'none');
  const clientAuth: ClientAuthMode[] = [];
  if (clientAuthRaw !== 'none') {
    for (const mode of clientAuthRaw.split(',').map((m) => m.trim())) {
      if (mode !== 'token' && mode !== 'mtls') throw new ConfigError('TCC_CLIENT_AUTH', 'expected none, token, mtls or token,mtls');
      clientAuth.push(mode);
    }
  }
  if (clientAuth.includes('token') && clientTokens.size === 0) throw new ConfigError('TCC_CLIENT_AUTH', 'token needs TCC_CLIENT_TOKENS');
  if (clientAuth.includes('mtls') && tlsClientCa === undefined) throw new ConfigError('TCC_CLIENT_AUTH', 'mtls needs TCC_TLS_CLIENT_CA');
  const allowUnauthRaw = str(env, 'TCC_ALLOW_UNAUTHENTICATED_ADMIN') ?? 'false';
  if (allowUnauthRaw !== 'true' && allowUnauthRaw !== 'false') {
    throw new ConfigError('TCC_ALLOW_UNAUTHENTICATED_ADMIN', 'expected true or false');
  }
  const allowUnauthenticatedAdmin = allowUnauthRaw === 'true';
  if (adminToken === undefined && !allowUnauthenticatedAdmin && !isLoopbackHost(grpcAddr.slice(0, grpcAddr.lastIndexOf(':')))) {
    // Admin can abort transactions and mark branches done: open to a network, it needs a token.
    throw new ConfigError(
      'TCC_ADMIN_TOKEN',
      `required when TCC_GRPC_ADDR (${grpcAddr}) is not a loopback address; set TCC_ALLOW_UNAUTHENTICATED_ADMIN=true to run without one anyway`,
    );
  }
  const allowRaw = str(env, 'TCC_PARTICIPANT_ALLOW');
  let participantAllowlist: ParticipantAllowlist | undefined;
  if (allowRaw !== undefined) {
    try {
      participantAllowlist = ParticipantAllowlist.parse(allowRaw);
    } catch (err) {
      throw new ConfigError('TCC_PARTICIPANT_ALLOW', (err as Error).message);
    }
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
    metricsParticipants,
    metricsMaxParticipants,
    metricsCacheMs,
    healthCheckIntervalMs,
    tracing: loadTracingConfig(env, 'tcc-coordinator'),
    storeQueueMax,
    finalWriteDelayMs,
    dbStatementTimeoutMs,
    dbInitialize,
    grpcMaxConnections,
    grpcMaxConcurrentStreams,
    grpcHandshakeTimeoutMs,
    grpcIdleTimeoutMs,
    grpcMaxConnectionAgeMs,
    grpcMaxConnectionAgeGraceMs,
    grpcKeepaliveTimeMs,
    tlsCert,
    tlsKey,
    tlsClientCa,
    participantTlsCa,
    participantTlsCert,
    participantTlsKey,
    participantTransport,
    participantAllowlist,
    allowUnauthenticatedAdmin,
    clientAuth,
    clientTokens,
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
