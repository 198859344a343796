import type { Knex } from 'knex';
import { barrierDialectOf, checkBarrierTableName, DEFAULT_BARRIER_TABLE } from './barrier-schema';

/** Options of {@link pruneSqlBarriers}. */
export interface PruneSqlBarriersOptions {
  /**
   * Only branches whose phase-two row (Confirm or Cancel) is older than this
   * are deleted, ms. Default 7 days (the coordinator's largest transaction
   * timeout). Keep it well above the longest time the coordinator may still
   * call this branch after its phase two succeeded here (an OK lost on the
   * way back is retried with backoff up to `TCC_RETRY_MAX_MS`): once the rows
   * are gone, a retried Confirm is refused as not-tried and a late Try would
   * run again.
   */
  olderThanMs?: number;
  /** The barrier table. Default `tcc_barriers`. */
  tableName?: string;
  /** Branches per DELETE (each has two rows), 1 … 10 000 (two bound parameters each). Default 500. */
  batchSize?: number;
  /** Pause between two batches, ms, to leave the database to live traffic. Default 100. */
  pauseMs?: number;
  /** Stop after this many batches (the rest waits for the next run). Default: no limit. */
  maxBatches?: number;
  /** "Now", epoch ms. Default `Date.now()`. */
  now?: number;
  /** Stops between batches when aborted; rows already deleted stay deleted. Default: none. */
  signal?: AbortSignal;
  /** Hears the row count of each batch (for logs or metrics). Default: none. */
  onBatch?: (deletedRows: number) => void;
}

const DEFAULT_OLDER_THAN_MS = 7 * 24 * 60 * 60 * 1000;

function positiveInteger(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value <= 0 || value > max) {
    throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

/**
 * Deletes the barrier rows of FINISHED branches (those with a phase2 row:
 * Confirmed or Cancelled here) whose phase2 row is older than `olderThanMs`,
 * in batches of `batchSize` branches with a pause in between: never one huge
 * DELETE, which would hold locks and stall MySQL replication. Rows of
 * unfinished branches (a try row alone) are never deleted: a late Cancel must
 * still find its Try. Resolves with the number of rows deleted.
 *
 * Run it from a periodic job in one replica (several at once only duplicate
 * work: each batch deletes by primary key).
 */
export async function pruneSqlBarriers(knex: Knex, options: PruneSqlBarriersOptions = {}): Promise<number> {
  const dialect = barrierDialectOf(knex);
  const table = checkBarrierTableName(options.tableName ?? DEFAULT_BARRIER_TABLE);
  const olderThanMs = positiveInteger('olderThanMs', options.olderThanMs ?? DEFAULT_OLDER_THAN_MS);
  const batchSize = positiveInteger('batchSize', options.batchSize ?? 500, 10_000);
  const pauseMs = Math.max(0, options.pauseMs ?? 100);
  const maxBatches = options.maxBatches ?? Infinity;
  const cutoff = (options.now ?? Date.now()) - olderThanMs;
  // READ COMMITTED on MySQL: the DELETE locks the rows it removes, not the gaps next to live branches' keys.
  const txConfig: Knex.TransactionConfig = dialect === 'mysql' ? { isolationLevel: 'read committed' } : {};

  let deleted = 0;
  for (let batch = 0; batch < maxBatches && !options.signal?.aborted; batch++) {
    if (batch > 0 && pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const { rows, branches } = await knex.transaction(async (tx) => {
      // Oldest first through the created_at index; a phase2 row is never removed without its try row (one DELETE).
      const finished = (await tx(table)
        .select('gid', 'branch_id')
        .where('slot', 'phase2')
        .andWhere('created_at', '<', cutoff)
        .orderBy('created_at')
        .limit(batchSize)) as { gid: string; branch_id: string }[];
      if (finished.length === 0) return { rows: 0, branches: 0 };
      const count = await tx(table)
        .where((q) => {
          for (const b of finished) void q.orWhere({ gid: b.gid, branch_id: b.branch_id });
        })
        .del();
      return { rows: count, branches: finished.length };
    }, txConfig);
    deleted += rows;
    if (branches > 0) options.onBatch?.(rows);
    if (branches < batchSize) break;
  }
  return deleted;
}
