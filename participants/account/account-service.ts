import knexFactory, { type Knex } from 'knex';
import type { Logger } from 'pino';
import { createLogger } from '../../src/log/logger';
import { ParticipantServer, SqlBarrier } from '../../src/participant';
import { knexConfigFor } from '../../src/store/create-store';
import type { RunningService } from '../shared/service-main';
import type { AccountConfig } from './account-config';
import { accountActions } from './account-handlers';
import { migrateAccountSchema } from './account-schema';
import { AccountStore } from './account-store';
import { BarrierPruner } from './barrier-pruner';

/** Options of {@link startAccountService}. */
export interface AccountServiceOptions {
  /** Default: pino JSON on stdout at `config.logLevel`. */
  readonly logger?: Logger;
  /** Time between two barrier prunes, ms. Default 3 600 000 (1 h). */
  readonly pruneIntervalMs?: number;
  /** MySQL connection pool size. Default 10 (SQLite always uses one connection). */
  readonly poolSize?: number;
}

/** The account service, serving. */
export interface RunningAccountService extends RunningService {
  /** The service's database (for inspection; business changes go through the barrier). */
  readonly knex: Knex;
  readonly store: AccountStore;
  readonly pruner: BarrierPruner;
}

/**
 * Opens the database, migrates it (accounts + barrier table), seeds the
 * configured accounts, and serves tcc.v1.Participant (actions `debit` and
 * `credit`) plus grpc.health.v1 on `config.addr`.
 */
export async function startAccountService(config: AccountConfig, options: AccountServiceOptions = {}): Promise<RunningAccountService> {
  const logger = options.logger ?? createLogger({ level: config.logLevel }).child({ service: 'account' });
  // The coordinator's URL handling: same URL forms, WAL on SQLite (the barrier states READ COMMITTED per transaction on MySQL).
  const knex = knexFactory(knexConfigFor(config.dbUrl, options.poolSize ?? 10).config);
  let server: ParticipantServer<Knex.Transaction> | undefined;
  try {
    await knex.raw('select 1');
    await migrateAccountSchema(knex);
    const store = new AccountStore(knex);
    await store.seed(config.seed);
    const barrier = new SqlBarrier(knex, {
      onRetry: (r) => logger.debug({ gid: r.gid, branch_id: r.branchId, phase: r.phase, attempt: r.attempt, err: r.error }, 'barrier transaction retried'),
    });
    server = new ParticipantServer({ barrier, actions: accountActions(store), logger, tls: config.tls });
    const address = await server.listen(config.addr);
    const pruner = new BarrierPruner(knex, logger, { retentionMs: config.barrierRetentionMs, intervalMs: options.pruneIntervalMs });
    pruner.start();

    const serving = server;
    let closing: Promise<void> | undefined;
    return {
      address,
      knex,
      store,
      pruner,
      shutdown() {
        closing ??= (async () => {
          // Calls first (they need the database), then the prune, then the pool.
          await serving.shutdown();
          await pruner.stop();
          await knex.destroy();
        })();
        return closing;
      },
    };
  } catch (err) {
    await server?.shutdown(0);
    await knex.destroy();
    throw err;
  }
}
