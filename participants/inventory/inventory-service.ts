import { once } from 'node:events';
import Redis from 'ioredis';
import type { Logger } from 'pino';
import { createLogger } from '../../src/log/logger';
import { ParticipantServer, RedisBarrier, type RedisChangeSet } from '../../src/participant';
import { redactUrl } from '../shared/service-config';
import { errorText, type RunningService } from '../shared/service-main';
import type { InventoryConfig } from './inventory-config';
import { inventoryActions } from './inventory-handlers';
import { InventoryStore } from './inventory-store';

/** Options of {@link startInventoryService}. */
export interface InventoryServiceOptions {
  /** Default: pino JSON on stdout at `config.logLevel`. */
  readonly logger?: Logger;
}

/** The inventory service, serving. */
export interface RunningInventoryService extends RunningService {
  /** The service's Redis connection (for inspection; business changes go through the barrier). */
  readonly redis: Redis;
  readonly store: InventoryStore;
}

/**
 * Connects to Redis (failing at start when it does not answer: better a
 * restart loop the orchestrator reports than a service that is up but
 * refuses every call), seeds the configured SKUs, and serves
 * tcc.v1.Participant (action `reserve`) plus grpc.health.v1 on `config.addr`.
 */
export async function startInventoryService(config: InventoryConfig, options: InventoryServiceOptions = {}): Promise<RunningInventoryService> {
  const logger = options.logger ?? createLogger({ level: config.logLevel }).child({ service: 'inventory' });
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    connectTimeout: 5_000,
    // A call waiting for a reconnect would only outlive the coordinator's deadline; it retries the call anyway.
    maxRetriesPerRequest: 2,
  });
  // ioredis reports connection trouble as 'error' events; without a listener it prints them itself, stack and all.
  let lastRedisError: string | undefined;
  redis.on('error', (err: Error) => {
    lastRedisError = errorText(err);
    logger.warn({ err: lastRedisError }, 'redis error');
  });
  let server: ParticipantServer<RedisChangeSet> | undefined;
  try {
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      // ioredis' own rejection is often just "Connection is closed."; the 'error' event had the cause.
      throw new Error(`Redis at ${redactUrl(config.redisUrl)} does not answer (${lastRedisError ?? errorText(err)})`, { cause: err });
    }
    const store = new InventoryStore(redis, config.keyPrefix);
    await store.seed(config.seed);
    const barrier = new RedisBarrier({ redis, keyPrefix: store.barrierPrefix, ttlMs: config.barrierTtlMs });
    server = new ParticipantServer({ barrier, actions: inventoryActions(store), logger, tls: config.tls });
    const address = await server.listen(config.addr);

    const serving = server;
    let closing: Promise<void> | undefined;
    return {
      address,
      redis,
      store,
      shutdown() {
        closing ??= (async () => {
          await serving.shutdown();
          await closeRedis(redis);
        })();
        return closing;
      },
    };
  } catch (err) {
    await server?.shutdown(0);
    redis.disconnect();
    throw err;
  }
}

/** QUIT (lets queued commands finish), bounded: a Redis that stops answering must not hold up shutdown. */
async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    const ended = once(redis, 'end');
    await redis.quit().catch(() => undefined);
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
  }
  redis.disconnect();
}
