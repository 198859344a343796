#!/usr/bin/env -S node --heap-growing-percent=50
// The V8 heap bound above is how the service is started everywhere (`npm start`, the
// Dockerfile and the bench run this file through its shebang; `env -S` splits the flags).
// Under load (concurrency 256) most of the memory above the resting ~90 MB was garbage V8
// let pile up, not live data (the live heap stays ~25 MB): an old generation grown to ~4x
// its live size between full GCs (V8's growing factor on a machine with much memory). A
// 1.5x growing factor keeps the peak RSS near 140-150 MB instead of 195-220 MB, for about
// 5-10 % more CPU per transaction at concurrency 256; it is not a ceiling: a larger live
// heap still grows (no out-of-memory crash). Smaller semi-spaces (8 MB) took another 15 MB
// off but cost 20-30 % more CPU per transaction (twice the scavenges): not worth it.
import { ConfigError, loadConfig } from './config/config';
import { startCoordinator } from './coordinator';
import { CertificateError } from './tls/certificate-error';
import { describeError, oneLine } from './log/describe-error';
import { shutdownOnSignal } from './lifecycle/shutdown-on-signal';
import { createLogger } from './log/logger';
import { DatabaseStartRefusedError } from './store/store-errors';

async function main(): Promise<void> {
  // A file-size limit (ulimit -f) must not kill the process mid-commit: the write fails
  // with EFBIG instead, SQLite reports it, and the call answers UNAVAILABLE.
  process.on('SIGXFSZ', () => undefined);
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
  // Node's default prints the error with its stack over many lines of stderr, outside the JSON log (and
  // the text can quote request data): one bounded JSON line instead, then the same exit as Node's.
  process.on('uncaughtException', (err) => {
    logger.fatal({ err: describeError(err) }, 'uncaught exception; exiting');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: describeError(reason) }, 'unhandled promise rejection; exiting');
    process.exit(1);
  });
  let running;
  try {
    running = await startCoordinator(config, { logger });
  } catch (err) {
    if (err instanceof CertificateError) {
      logger.fatal({ file: err.file }, `coordinator failed to start: ${oneLine(err.message)}`);
      process.stderr.write(`tcc-coordinator: TLS: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof DatabaseStartRefusedError) {
      // The database is not the one this coordinator's decisions are in, or cannot take its limits: an operator must act.
      logger.fatal(`coordinator failed to start: ${err.message}`);
      process.stderr.write(`tcc-coordinator: database: ${err.message}\n`);
      process.exit(2);
    }
    logger.fatal({ err: describeError(err) }, 'coordinator failed to start');
    process.exit(1);
  }
  const db = config.dbUrl.startsWith('sqlite:') ? config.dbUrl : config.dbUrl.replace(/\/\/[^@/]*@/, '//***@');
  logger.info({ address: running.address, db }, 'coordinator listening');

  shutdownOnSignal(logger, () => running.shutdown());
  // Certificates are re-read on SIGHUP; a bad file keeps the previous ones (and says so).
  process.on('SIGHUP', () => {
    try {
      running.reloadCertificates();
      logger.info('certificates reloaded');
    } catch (err) {
      logger.error({ err: describeError(err) }, 'certificate reload failed; serving the previous certificates');
    }
  });
}

void main();
