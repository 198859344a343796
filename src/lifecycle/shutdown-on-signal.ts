import type { Logger } from 'pino';

/**
 * Makes SIGTERM / SIGINT stop the process gracefully: `shutdown()` drains
 * in-flight work, then the process exits 0 (1 if the shutdown failed). A
 * second signal exits at once with 1: an operator pressing Ctrl-C twice
 * means it. Shared by the coordinator's and the example services' entry points.
 */
export function shutdownOnSignal(logger: Logger, shutdown: () => Promise<void>): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal }, 'shutting down: draining in-flight calls');
    shutdown().then(
      () => {
        logger.info('shut down');
        process.exit(0);
      },
      (err: unknown) => {
        // Name and message only: a stack can carry request data.
        logger.error({ err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
