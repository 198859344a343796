#!/usr/bin/env node
import { ConfigError, loadConfig } from './config/config';
import { startCoordinator } from './coordinator';
import { describeError } from './log/describe-error';
import { shutdownOnSignal } from './lifecycle/shutdown-on-signal';
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
    logger.fatal({ err: describeError(err) }, 'coordinator failed to start');
    process.exit(1);
  }
  const db = config.dbUrl.startsWith('sqlite:') ? config.dbUrl : config.dbUrl.replace(/\/\/[^@/]*@/, '//***@');
  logger.info({ address: running.address, db }, 'coordinator listening');

  shutdownOnSignal(logger, () => running.shutdown());
}

void main();
