import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import Redis from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config/config';
import { systemClock, type Clock } from './domain/clock';
import { crashAt } from './engine/crash-points';
import { describeError } from './log/describe-error';
import { RecoveryScheduler } from './recovery/recovery-scheduler';
import { RetentionJob } from './recovery/retention-job';
import { TransactionEngine } from './engine/transaction-engine';
import { alwaysHeld } from './lease/singleton-lease';
import { RedisSingletonLease } from './lease/redis-singleton-lease';
import { createLogger } from './log/logger';
import { createCoordinatorMetrics } from './metrics/coordinator-metrics';
import { startMetricsServer, type MetricsServer } from './metrics/metrics-server';
import { StatsCache } from './metrics/stats-cache';
import { HealthMonitor } from './server/health-monitor';
import { startTracing } from './tracing/start-tracing';
import { createConsoleRoutes } from './console/console-server';
import { loadTccProto } from './protocol/tcc-proto';
import { createAdminHandlers } from './server/admin-service';
import { createCoordinatorHandlers, type CoordinatorAccess } from './server/coordinator-service';
import { createClientAuthenticator } from './server/client-auth';
import { GidGenerator } from './engine/gid';
import { SqlTransactionStore } from './store/sql-transaction-store';
import { SqlTransactionOwners } from './store/transaction-owners';
import { listenGrpc, type GrpcListener } from './server/grpc-listener';
import { ParticipantCaller } from './engine/participant-caller';
import { ReloadableCertificates } from './tls/reloadable-certificates';
import { createChannelTlsCredentials, createServerTlsCredentials } from './tls/tls-credentials';
import { createRequestLimits, largestRequest, limitRequests, strictlyDecoding } from './server/request-limits';
import { refusalInterceptor } from './server/refusal-interceptor';
import { createTransactionStore } from './store/create-store';
import { DatabaseClock } from './store/database-clock';

/** Options of {@link startCoordinator}. */
export interface StartCoordinatorOptions {
  /** Default: JSON to stdout at `config.logLevel`. */
  logger?: Logger;
  /** Default: the database's clock on MySQL/MariaDB (DatabaseClock), the system clock on SQLite. */
  clock?: Clock;
}

/** A coordinator serving gRPC (Coordinator, Admin, health, reflection) on `address`. */
export interface RunningCoordinator {
  /** `host:port` actually bound (resolves port 0). */
  readonly address: string;
  readonly config: Config;
  readonly engine: TransactionEngine;
  /** Connected when TCC_REDIS_URL is set. Nothing correct depends on it. */
  readonly redis: Redis | undefined;
  /** `host:port` of the /metrics endpoint, when TCC_METRICS_ADDR is set. */
  readonly metricsAddress: string | undefined;
  readonly recovery: RecoveryScheduler;
  readonly retention: RetentionJob;
  /**
   * Re-reads every configured certificate, key and CA (SIGHUP). New handshakes use them; open
   * connections and their calls are untouched. Throws CertificateError (keeping the old ones) on a bad file.
   */
  reloadCertificates(): void;
  /** Drains in-flight calls (up to `config.shutdownGraceMs`), then closes the database and Redis. */
  shutdown(): Promise<void>;
}

/** Services reported by grpc.health.v1; '' is the whole server. */
const HEALTH_SERVICES = ['', 'tcc.v1.Coordinator', 'tcc.v1.Admin'];

/**
 * What reflection lists: exactly the services this server serves. The tcc.v1
 * package also defines Participant (implemented by participants, not here), and
 * health is described from grpc-health-check's own proto so `grpcurl
 * grpc.health.v1.Health/Check` works without proto files.
 */
const REFLECTED_SERVICES = ['tcc.v1.Coordinator', 'tcc.v1.Admin', 'grpc.health.v1.Health'];

function createReflectionService(tccDefinition: protoLoader.PackageDefinition): ReflectionService {
  const health = protoLoader.loadSync(healthProtoPath, { keepCase: true });
  return new ReflectionService({ ...tccDefinition, ...health }, { services: REFLECTED_SERVICES });
}

async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, connectTimeout: 5_000 });
  redis.on('error', (err: Error) => logger.warn({ err: describeError(err) }, 'redis error'));
  try {
    await redis.connect();
  } catch (err) {
    // Redis only spares duplicate work; the coordinator is correct without it.
    logger.warn({ err: describeError(err) }, 'redis not reachable at start; continuing without it until it is');
  }
  return redis;
}

/**
 * QUIT when connected (lets queued commands finish), bounded: a Redis that
 * stops answering must not hold up shutdown. Then disconnect, which also
 * stops the reconnect loop of a Redis that was never reachable.
 */
async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    const ended = once(redis, 'end');
    await redis.quit().catch(() => undefined);
    await Promise.race([ended, new Promise((r) => setTimeout(r, 1_000).unref())]);
  }
  redis.disconnect();
}

/** Migrates the database, then serves. */
export async function startCoordinator(config: Config, options: StartCoordinatorOptions = {}): Promise<RunningCoordinator> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, node: config.nodeId });
  // Read (and checked) before anything listens: a bad certificate is a start-up error, never a plaintext fallback.
  const serverCerts = config.tlsCert
    ? new ReloadableCertificates({ certFile: config.tlsCert, keyFile: config.tlsKey, caFile: config.tlsClientCa })
    : undefined;
  const participantCerts = config.participantTlsCa
    ? new ReloadableCertificates({ caFile: config.participantTlsCa, certFile: config.participantTlsCert, keyFile: config.participantTlsKey })
    : undefined;
  // First, so every span of this process is exported (off unless OTEL_* names an endpoint).
  const tracing = config.tracing ? startTracing(config.tracing) : undefined;
  if (config.dbInitialize && config.dbUrl.startsWith('sqlite:')) {
    logger.warn('TCC_DB_INITIALIZE=true: starting on whatever database is at TCC_DB_URL (a new empty one if none), even if it is not the one this path held; unset it after this start');
  }
  const store = await createTransactionStore({
    url: config.dbUrl,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    logger,
    initialize: config.dbInitialize,
    maxPayloadBytes: config.maxPayloadBytes,
    // From here on every call answers UNAVAILABLE, health is NOT_SERVING and recovery reads nothing to act on.
    onDatabaseFileLost: (err) => logger.error({ file: err.file, why: err.why }, err.message),
  }).catch(async (err: unknown) => {
    await tracing?.shutdown();
    throw err;
  });
  const metrics = createCoordinatorMetrics({
    defaultMetrics: true,
    participantAllowlist: config.metricsParticipants,
    maxParticipants: config.metricsMaxParticipants,
  });
  let dbClock: DatabaseClock | undefined;
  let clock: Clock = options.clock ?? systemClock;
  if (!options.clock && store.dialect === 'mysql') {
    // Several replicas share a MySQL database: deadlines, due times and claims are compared on its clock.
    dbClock = new DatabaseClock({
      read: async () => (await store.databaseTimeMs()) ?? Date.now(),
      logger,
      offsetGauge: metrics.dbClockOffset,
      uncertaintyGauge: metrics.dbClockUncertainty,
    });
    try {
      await dbClock.start();
    } catch (err) {
      await store.close();
      await tracing?.shutdown();
      throw err;
    }
    clock = dbClock;
    logger.info({ offset_ms: Math.round(dbClock.offsetMs()) }, 'database clock measured');
  }
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, logger) : undefined;
  const stats = new StatsCache({
    load: () => store.inFlightStats(clock.now()),
    ttlMs: config.metricsCacheMs,
    onError: (err) => logger.warn({ err: describeError(err) }, 'in-flight metrics query failed; gauges keep their last values'),
  });
  metrics.useStatsSource(() => stats.get(), () => clock.now());
  metrics.useStoreCounts(
    () => store.statementCount(),
    () => store.queryCount(),
    () => store.walSyncCount(),
  );
  const lease = redis ? new RedisSingletonLease({ redis, node: config.nodeId, logger }) : alwaysHeld;
  if (config.allowUnauthenticatedAdmin && !config.adminToken) {
    logger.warn(
      { address: config.grpcAddr },
      'SECURITY: the Admin API (abort transactions, resolve branches) is served WITHOUT authentication (TCC_ALLOW_UNAUTHENTICATED_ADMIN=true); anyone who reaches this address can use it',
    );
  }
  if (config.crashAt) logger.warn({ crash_at: config.crashAt }, 'fault injection on: this process will SIGKILL itself (TCC_FAULT_CRASH_AT, tests only)');

  const caller = new ParticipantCaller({
    now: () => clock.now(),
    transport: config.participantTransport,
    credentials: participantCerts ? createChannelTlsCredentials(participantCerts) : undefined,
  });

  // Who began each transaction (client authentication): read by the Coordinator service, and to count stuck transactions per client.
  const owners = config.clientAuth.length > 0 && store instanceof SqlTransactionStore ? new SqlTransactionOwners(store.knex) : undefined;
  const engine = new TransactionEngine({
    store,
    caller,
    participantAllowlist: config.participantAllowlist,
    logger,
    clock,
    metrics,
    crash: config.crashAt ? crashAt(config.crashAt) : undefined,
    committer: { maxQueuedCommands: config.storeQueueMax },
    finalWriteDelayMs: config.finalWriteDelayMs,
    node: config.nodeId,
    limits: {
      defaultTimeoutMs: config.defaultTimeoutMs,
      maxTimeoutMs: config.maxTimeoutMs,
      branchTimeoutMs: config.branchTimeoutMs,
      maxPayloadBytes: config.maxPayloadBytes,
      maxBranches: config.maxBranches,
      sweepIntervalMs: config.sweepIntervalMs,
      maxWaitMs: config.maxWaitMs,
    },
    retryPolicy: { initialMs: config.retryInitialMs, maxMs: config.retryMaxMs, multiplier: 2, jitter: 0.5 },
    recovery: {
      stuck: { attempts: config.stuckAfterAttempts, ageMs: config.stuckAfterMs },
      concurrencyPerTarget: config.recoveryConcurrencyPerTarget,
      alertWebhookUrl: config.alertWebhookUrl,
      ownerOf: owners ? (gid) => owners.ownerOf(gid) : undefined,
    },
  });
  const recovery = new RecoveryScheduler({
    engine,
    store,
    committer: engine.committer,
    clock,
    logger,
    metrics,
    node: config.nodeId,
    sweepIntervalMs: config.sweepIntervalMs,
    claimLeaseMs: engine.leaseMs,
    lease,
  });
  engine.onRetryScheduled((at) => recovery.wakeAt(at));
  const retention = new RetentionJob({
    store,
    lease,
    logger,
    metrics,
    clock,
    retentionMs: config.retentionMs,
    intervalMs: config.retentionIntervalMs,
    batchSize: config.retentionBatch,
  });

  const { packageDefinition, grpcObject } = loadTccProto();
  const requestLimits = createRequestLimits({ maxPayloadBytes: config.maxPayloadBytes, maxBranches: config.maxBranches });
  const server = new grpc.Server({
    // Each method has its own, smaller limit (request-limits); this is the largest, an Execute's.
    'grpc.max_receive_message_length': largestRequest(requestLimits),
    'grpc.max_concurrent_streams': config.grpcMaxConcurrentStreams,
    'grpc.max_connection_idle_ms': config.grpcIdleTimeoutMs,
    'grpc.max_connection_age_ms': config.grpcMaxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': config.grpcMaxConnectionAgeGraceMs,
    'grpc.keepalive_time_ms': config.grpcKeepaliveTimeMs,
    'grpc.keepalive_timeout_ms': 20_000,
    // A request refused before decoding (malformed, too large) ends with its status in every service.
    interceptors: [refusalInterceptor],
  });
  let access: CoordinatorAccess | undefined;
  if (config.clientAuth.length > 0) {
    if (!owners) throw new Error('client authentication needs the SQL store');
    const gids = new GidGenerator(() => clock.now());
    access = {
      authenticate: createClientAuthenticator({ modes: config.clientAuth, tokens: config.clientTokens }),
      owners,
      newGid: () => gids.next(),
      now: () => clock.now(),
    };
  }
  server.addService(
    limitRequests(grpcObject.tcc.v1.Coordinator.service, requestLimits),
    createCoordinatorHandlers(engine, logger, access),
  );
  server.addService(
    limitRequests(grpcObject.tcc.v1.Admin.service, requestLimits),
    createAdminHandlers(engine, recovery, { adminToken: config.adminToken, logger, clock }),
  );
  const health = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, 'SERVING' as const])));
  health.addToServer(strictlyDecoding(server));
  let closingHealth = false;
  const healthMonitor = new HealthMonitor({
    ping: () => store.ping(),
    intervalMs: config.healthCheckIntervalMs,
    logger,
    onChange: (serving) => {
      // Shutdown owns the status once it has begun.
      if (closingHealth) return;
      for (const s of HEALTH_SERVICES) health.setStatus(s, serving ? 'SERVING' : 'NOT_SERVING');
    },
  });
  createReflectionService(packageDefinition).addToServer(strictlyDecoding(server));

  let listener: GrpcListener;
  try {
    listener = await listenGrpc(server, {
      address: config.grpcAddr,
      credentials: serverCerts
        ? createServerTlsCredentials(serverCerts, {
            requireClientCert: config.tlsClientCa !== undefined,
            handshakeTimeoutMs: config.grpcHandshakeTimeoutMs,
          })
        : grpc.ServerCredentials.createInsecure(),
      maxConnections: config.grpcMaxConnections,
      handshakeTimeoutMs: config.grpcHandshakeTimeoutMs,
    });
  } catch (err) {
    dbClock?.stop();
    redis?.disconnect();
    await store.close();
    throw err;
  }
  let metricsServer: MetricsServer | undefined;
  if (config.metricsAddr) {
    try {
      // The console shares the metrics port, and exists only behind the admin token.
      const consoleRoutes = config.adminToken ? createConsoleRoutes({ engine, adminToken: config.adminToken, clock, logger }) : undefined;
      metricsServer = await startMetricsServer(metrics.registry, config.metricsAddr, consoleRoutes);
    } catch (err) {
      server.forceShutdown();
      listener.destroy();
      dbClock?.stop();
      redis?.disconnect();
      await store.close();
      throw err;
    }
  }
  recovery.start();
  retention.start();
  healthMonitor.start();
  const host = config.grpcAddr.slice(0, config.grpcAddr.lastIndexOf(':'));
  const address = `${host}:${listener.port}`;

  let closing: Promise<void> | undefined;
  const shutdown = () =>
    (closing ??= (async () => {
      closingHealth = true;
      for (const s of HEALTH_SERVICES) health.setStatus(s, 'NOT_SERVING');
      await healthMonitor.stop();
      listener.stopAccepting();
      // Let in-flight calls finish (a decision already written still answers its caller), then cut the rest.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, config.shutdownGraceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      listener.destroy();
      await retention.stop();
      await recovery.stop();
      await engine.stop();
      await metricsServer?.close();
      if (redis) await closeRedis(redis);
      dbClock?.stop();
      await store.close();
      // Last: the spans of the drained calls are exported before the process ends.
      await tracing?.shutdown();
    })());

  const reloadCertificates = () => {
    serverCerts?.reload();
    participantCerts?.reload();
  };

  return { address, config, engine, redis, metricsAddress: metricsServer?.address, recovery, retention, reloadCertificates, shutdown };
}
