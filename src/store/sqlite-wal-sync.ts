import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { DatabaseUnavailableError } from './store-errors';

/**
 * Flushes the WAL to disk and answers the inode it flushed (undefined when
 * there is no WAL file); `syncDirectory` makes a directory's entries durable.
 */
export interface WalFileSyncer {
  syncWal(wal: string): Promise<bigint | undefined>;
  syncDirectory(dir: string): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link SqliteWalSync}. */
export interface SqliteWalSyncOptions {
  /** How files are flushed. Default: {@link ThreadPoolWalSyncer} (fdatasync on libuv's thread pool). */
  syncer?: WalFileSyncer;
}

/**
 * Keeps the WAL open and fdatasyncs it on libuv's thread pool, checking the
 * path's inode meanwhile (in parallel, so a sync costs one fsync's time): if
 * SQLite removed and recreated the WAL (it does so only when its last
 * connection closes), the new file is opened and synced as well.
 */
export class ThreadPoolWalSyncer implements WalFileSyncer {
  private open: { handle: fsp.FileHandle; ino: bigint } | undefined;

  async syncWal(wal: string): Promise<bigint | undefined> {
    const held = this.open;
    const [, now] = await Promise.all([held?.handle.datasync(), fsp.stat(wal, { bigint: true }).catch(ignoreMissing)]);
    if (now === undefined) return undefined;
    if (held && now.ino === held.ino) return held.ino;
    // First sync, or a new WAL at the path: open it and sync it too.
    await held?.handle.close();
    this.open = undefined;
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(wal, 'r');
    } catch (err) {
      return ignoreMissing(err);
    }
    const { ino } = await handle.stat({ bigint: true });
    this.open = { handle, ino };
    await handle.datasync();
    return ino;
  }

  async syncDirectory(dir: string): Promise<void> {
    const handle = await fsp.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async close(): Promise<void> {
    await this.open?.handle.close();
    this.open = undefined;
  }
}

function ignoreMissing(err: unknown): undefined {
  if ((err as { code?: string }).code === 'ENOENT') return undefined;
  throw err;
}

/**
 * Makes SQLite commits durable off the event loop. better-sqlite3 runs a
 * `COMMIT` synchronously, and with `synchronous = FULL` its fsync held the
 * coordinator's only thread for 0.3–0.8 ms per batch (a quarter of the
 * process's time at concurrency 64, in the CPU profile). In WAL mode with
 * `synchronous = NORMAL` a commit only writes its frames to the `-wal` file;
 * this class then fdatasyncs that file on libuv's thread pool, and the store
 * acknowledges nothing (a write, or a read that may have seen one) before
 * the sync that began after it has finished. Durability is FULL's: a commit
 * is on disk before anyone acts on it. Meanwhile the event loop takes in
 * more work, so the next batch is larger, and one sync covers every commit
 * written before it began.
 *
 * A failed sync poisons it for good: after a failed fsync the kernel may have
 * dropped the unwritten pages and report the next fsync clean, so nothing
 * committed since the last good sync can ever be called durable. The store
 * answers UNAVAILABLE from then on (health turns NOT_SERVING) until restarted.
 *
 * Checkpoints stay SQLite's own: under NORMAL it syncs the WAL before copying
 * it into the database file and that file before reusing the WAL.
 */
export class SqliteWalSync {
  private wal: string | undefined;
  private written = 0;
  private synced = 0;
  private running: Promise<void> | undefined;
  private failure: DatabaseUnavailableError | undefined;
  /** The WAL inode whose directory entry is known to be on disk. */
  private dirSyncedFor: bigint | undefined;
  private syncs = 0;
  private readonly syncer: WalFileSyncer;

  constructor(options: SqliteWalSyncOptions = {}) {
    this.syncer = options.syncer ?? new ThreadPoolWalSyncer();
  }

  /**
   * Called with the database file once its connection runs in WAL mode with
   * `synchronous = NORMAL`; until then (another journal mode) commits sync
   * themselves and {@link durable} has nothing to do.
   */
  attach(databaseFile: string): void {
    this.wal = `${databaseFile}-wal`;
  }

  /** Syncs done (each covers every commit written before it began). */
  syncCount(): number {
    return this.syncs;
  }

  /**
   * A commit was written (or may have been): the next {@link durable} waits
   * for a sync that begins after now. Called before anyone else can use the
   * connection that wrote, so a read that sees the commit waits for it too.
   */
  noteWrite(): void {
    if (this.wal) this.written++;
  }

  /** Resolves when every write noted so far is on disk; rejects once a sync has failed. */
  async durable(): Promise<void> {
    if (this.failure) throw this.failure;
    const target = this.written;
    while (this.synced < target) {
      // A sync already running may have begun before the write: wait for it, then start one of our own.
      this.running ??= this.syncOnce().finally(() => (this.running = undefined));
      await this.running;
    }
  }

  /** Closes the WAL kept open (after the database connection has closed). */
  async close(): Promise<void> {
    await this.running?.catch(() => undefined);
    await this.syncer.close();
  }

  private async syncOnce(): Promise<void> {
    const wal = this.wal as string;
    const upTo = this.written;
    try {
      const inode = await this.syncer.syncWal(wal);
      // No WAL: SQLite checkpointed it into the database file (syncing that) and removed it on close.
      if (inode !== undefined) {
        // A new WAL file's directory entry is on disk only once its directory is synced (SQLite does that at its first sync, which NORMAL defers).
        if (this.dirSyncedFor !== inode) {
          await this.syncer.syncDirectory(path.dirname(wal));
          this.dirSyncedFor = inode;
        }
      }
      this.syncs++;
      this.synced = Math.max(this.synced, upTo);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.failure ??= new DatabaseUnavailableError(`WAL_SYNC_${typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? code : 'FAILED'}`);
      throw this.failure;
    }
  }
}
