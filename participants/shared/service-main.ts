/**
 * The entry-point plumbing both example services share: config read once,
 * a JSON logger, one "<name> service listening" line once serving (the demo
 * and the tests wait for it), and a graceful stop on SIGTERM / SIGINT.
 */
import type { Logger } from 'pino';
import { shutdownOnSignal } from '../../src/lifecycle/shutdown-on-signal';
import { createLogger } from '../../src/log/logger';
import { loadTracingConfig } from '../../src/config/config';
import { startTracing, type Tracing } from '../../src/tracing/start-tracing';
import { ConfigError, type LogLevel } from './service-config';

/** A started service, as {@link runServiceMain} drives it. */
export interface RunningService {
  /** `host:port` actually bound. */
  readonly address: string;
  /** Stops serving (draining in-flight calls), then closes the service's connections. Idempotent. */
  shutdown(): Promise<void>;
}

/** What {@link runServiceMain} needs to know about one service. */
export interface ServiceMainOptions<C extends { readonly logLevel: LogLevel }> {
  /** Short name: `account` logs "account service listening". */
  readonly name: string;
  /** Reads and validates the environment; throws ConfigError on a bad value. */
  readonly loadConfig: (env: NodeJS.ProcessEnv) => C;
  readonly start: (config: C, logger: Logger) => Promise<RunningService>;
  /** Extra fields of the "listening" line (never secrets: mask passwords). */
  readonly describe: (config: C) => Record<string, unknown>;
}

/** `Name: message` of an error: never its stack, which can carry request data. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/**
 * Runs a service as the process's main program. Exit codes: 2 for a bad
 * configuration (the message names the variable), 1 when the service cannot
 * start or stop cleanly, 0 after a graceful stop. A second signal exits at
 * once.
 */
export async function runServiceMain<C extends { readonly logLevel: LogLevel }>(options: ServiceMainOptions<C>): Promise<void> {
  let config: C;
  let tracing: Tracing | undefined;
  try {
    config = options.loadConfig(process.env);
    // The standard OTEL_* variables; OTEL_SERVICE_NAME defaults to the service's name.
    const tracingSettings = loadTracingConfig(process.env, options.name);
    if (tracingSettings) tracing = startTracing(tracingSettings);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${options.name}: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel }).child({ service: options.name });

  let running: RunningService;
  try {
    running = await options.start(config, logger);
  } catch (err) {
    logger.fatal({ err: errorText(err) }, `${options.name} service failed to start`);
    process.exit(1);
  }
  logger.info({ address: running.address, ...options.describe(config) }, `${options.name} service listening`);

  shutdownOnSignal(logger, async () => {
    await running.shutdown();
    await tracing?.shutdown();
  });
}
