import * as fs from 'node:fs';
import { DatabaseFileLostError, DatabaseUnavailableError } from './store-errors';

/**
 * Notices that the SQLite database file was deleted or replaced under an open
 * connection. SQLite keeps writing to the open (unlinked or swapped) inode
 * and answers every commit OK, yet a restart opens whatever is at the path
 * now: every decision acknowledged since would be lost. So the store compares
 * the path's device and inode with the ones it opened after every store
 * call, before its result is acknowledged. One stat() is a few microseconds against
 * the batch's fsync (milliseconds), so it runs on every call rather than on
 * a timer that would leave a window of acknowledged, lost decisions.
 *
 * Once lost it stays lost: the only copy of the decisions written since the
 * file was opened is in the orphaned inode, and no later state of the path can
 * make acknowledging on it safe again.
 */
export class SqliteFileGuard {
  private opened: { dev: bigint; ino: bigint } | undefined;
  private lost: DatabaseFileLostError | undefined;

  constructor(
    readonly file: string,
    /** Told once, when the loss is first seen (the coordinator logs it). */
    private readonly onLost: (err: DatabaseFileLostError) => void = () => undefined,
  ) {}

  /** Records the file at the path now as the one the store uses. */
  arm(): void {
    const s = fs.statSync(this.file, { bigint: true });
    this.opened = { dev: s.dev, ino: s.ino };
  }

  /** Throws {@link DatabaseFileLostError} once the path no longer names the opened file. */
  check(): void {
    if (this.lost) throw this.lost;
    if (!this.opened) return;
    let now: fs.BigIntStats | undefined;
    try {
      now = fs.statSync(this.file, { bigint: true, throwIfNoEntry: false });
    } catch (err) {
      // ENOTDIR (the directory replaced by a file), EACCES...: cannot tell, so do not acknowledge now.
      const code = (err as { code?: string }).code;
      if (code === 'ENOTDIR') now = undefined;
      else throw new DatabaseUnavailableError(`STAT_${code ?? 'FAILED'}`);
    }
    const why = now === undefined ? 'deleted' : now.dev !== this.opened.dev || now.ino !== this.opened.ino ? 'replaced' : undefined;
    if (!why) return;
    this.lost = new DatabaseFileLostError(this.file, why);
    this.onLost(this.lost);
    throw this.lost;
  }
}
