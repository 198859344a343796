import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/config';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Default `info`. */
  level?: LogLevel;
  /** Written on every line (`node`). */
  node?: string;
  /** Default stdout. */
  destination?: pino.DestinationStream;
}

/**
 * JSON logs. Lines about a transaction carry `gid` (and `branch_id`); payload
 * bytes are never logged, and errors are logged as name + message, never as
 * stacks (they can carry request data).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { node: options.node },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}

export type { Logger };
