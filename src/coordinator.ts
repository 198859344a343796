import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
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
import { loadTccProto } from './protocol/tcc-proto';
import { createAdminHandlers } from './server/admin-service';
import { createCoordinatorHandlers } from './server/coordinator-service';
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
  /** Drains in-flight calls (up to `config.shutdownGraceMs`), then closes the database and Redis. */
  shutdown(): Promise<void>;
}

/** Services reported by grpc.health.v1; '' is the whole server. */
const HEALTH_SERVICES = ['', 'tcc.v1.Coordinator', 'tcc.v1.Admin'];

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
  const store = await createTransactionStore({ url: config.dbUrl });
  const metrics = createCoordinatorMetrics();
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
      throw err;
    }
    clock = dbClock;
    logger.info({ offset_ms: Math.round(dbClock.offsetMs()) }, 'database clock measured');
  }
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, logger) : undefined;
  const lease = redis ? new RedisSingletonLease({ redis, node: config.nodeId, logger }) : alwaysHeld;
  if (config.crashAt) logger.warn({ crash_at: config.crashAt }, 'fault injection on: this process will SIGKILL itself (TCC_FAULT_CRASH_AT, tests only)');

  const engine = new TransactionEngine({
    store,
    logger,
    clock,
    metrics,
    crash: config.crashAt ? crashAt(config.crashAt) : undefined,
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
  const server = new grpc.Server({
    // An Execute carries every branch's payload in one message.
    'grpc.max_receive_message_length': config.maxPayloadBytes * config.maxBranches + 1024 * 1024,
  });
  server.addService(grpcObject.tcc.v1.Coordinator.service, createCoordinatorHandlers(engine, logger));
  server.addService(
    grpcObject.tcc.v1.Admin.service,
    createAdminHandlers(engine, recovery, { adminToken: config.adminToken, logger, clock }),
  );
  const health = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, 'SERVING' as const])));
  health.addToServer(server);
  new ReflectionService(packageDefinition).addToServer(server);

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(config.grpcAddr, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
  } catch (err) {
    dbClock?.stop();
    redis?.disconnect();
    await store.close();
    throw err;
  }
  let metricsServer: MetricsServer | undefined;
  if (config.metricsAddr) {
    try {
      metricsServer = await startMetricsServer(metrics.registry, config.metricsAddr);
    } catch (err) {
      server.forceShutdown();
      dbClock?.stop();
      redis?.disconnect();
      await store.close();
      throw err;
    }
  }
  recovery.start();
  retention.start();
  const host = config.grpcAddr.slice(0, config.grpcAddr.lastIndexOf(':'));
  const address = `${host}:${port}`;

  let closing: Promise<void> | undefined;
  const shutdown = () =>
    (closing ??= (async () => {
      for (const s of HEALTH_SERVICES) health.setStatus(s, 'NOT_SERVING');
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
      await retention.stop();
      await recovery.stop();
      await engine.stop();
      await metricsServer?.close();
      if (redis) await closeRedis(redis);
      dbClock?.stop();
      await store.close();
    })());

  return { address, config, engine, redis, metricsAddress: metricsServer?.address, recovery, retention, shutdown };
}
