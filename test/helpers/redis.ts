import Redis from 'ioredis';

export const REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * Checks that the local Redis answers. Under CI=true an unreachable Redis
 * fails the suite; elsewhere the suite is skipped with a loud warning.
 */
export async function requireRedis(ctx: Mocha.Context): Promise<void> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2_000, retryStrategy: () => null });
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (process.env.CI === 'true') throw new Error(`Redis tests cannot run: ${REDIS_URL} unreachable (${why}); CI=true requires Redis`);
    console.warn(`\n  !!! Redis tests SKIPPED: ${REDIS_URL} unreachable (${why}). With CI=true this is a failure.\n`);
    ctx.skip();
  } finally {
    probe.disconnect();
  }
}
