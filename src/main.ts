#!/usr/bin/env node
import { ConfigError, loadConfig } from './config/config';
import { startCoordinator } from './coordinator';
import { describe } from './engine/recovery-loop';
import { createLogger } from './log/logger';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tcc-coordinator: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, node: config.nodeId });
  let running;
  try {
    running = await startCoordinator(config, { logger });
  } catch (err) {
    logger.fatal({ err: describe(err) }, 'coordinator failed to start');
    process.exit(1);
  }
  const db = config.dbUrl.startsWith('sqlite:') ? config.dbUrl : config.dbUrl.replace(/\/\/[^@/]*@/, '//***@');
  logger.info({ address: running.address, db }, 'coordinator listening');

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal }, 'shutting down: draining in-flight calls');
    running.shutdown().then(
      () => {
        logger.info('shut down');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err: describe(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

void main();
