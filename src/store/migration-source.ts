import type { Knex } from 'knex';
import * as coreSchema from '../../migrations/20261122000000_core_schema';
import * as recoveryAndOperations from '../../migrations/20261201120000_recovery_and_operations';
import * as binaryIdsAndStatusIndex from '../../migrations/20261202100000_binary_ids_and_status_index';
import * as timelineRepeats from '../../migrations/20261202140000_timeline_repeats';
import * as transactionOwners from '../../migrations/20261202150000_transaction_owners';
import * as recoveryDueByStatus from '../../migrations/20261202143000_recovery_due_by_status';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/**
 * The migrations in `migrations/`, imported rather than found on disk so the
 * compiled service runs them wherever it is installed. Append new ones here,
 * in order; never rename one that has shipped (the name is stored).
 */
const MIGRATIONS: ReadonlyArray<readonly [string, Migration]> = [
  ['20261122000000_core_schema', coreSchema],
  ['20261201120000_recovery_and_operations', recoveryAndOperations],
  ['20261202100000_binary_ids_and_status_index', binaryIdsAndStatusIndex],
  ['20261202140000_timeline_repeats', timelineRepeats],
  ['20261202143000_recovery_due_by_status', recoveryDueByStatus],
  ['20261202150000_transaction_owners', transactionOwners],
];

export const coordinatorMigrationSource: Knex.MigrationSource<readonly [string, Migration]> = {
  getMigrations: () => Promise.resolve([...MIGRATIONS]),
  getMigrationName: (m) => m[0],
  getMigration: (m) => Promise.resolve(m[1]),
};

/** Our own bookkeeping tables, so a participant's database can run its own knex migrations beside ours. */
export const MIGRATION_TABLE = 'tcc_migrations';
