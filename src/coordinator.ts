import type { Config } from './config/config';

/** Options of {@link startCoordinator}. */
export interface StartCoordinatorOptions {
  /** pino logger; default: one built from `config.logLevel` writing JSON to stdout. */
  logger?: unknown;
}

/** A coordinator serving gRPC (Coordinator, Admin, health, reflection) on `address`. */
export interface RunningCoordinator {
  /** `host:port` actually bound (resolves port 0). */
  readonly address: string;
  readonly config: Config;
  /** Drains in-flight calls (up to `config.shutdownGraceMs`), then closes the database and Redis. */
  shutdown(): Promise<void>;
}

/** Migrates the database, then serves. STUB: being implemented. */
export async function startCoordinator(config: Config, options: StartCoordinatorOptions = {}): Promise<RunningCoordinator> {
  void config;
  void options;
  throw new Error('not implemented yet');
}
