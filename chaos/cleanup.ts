/**
 * Everything the chaos runner started, so that any way out (normal end,
 * error, Ctrl-C, SIGTERM) kills every process and deletes every temp folder.
 * Synchronous on purpose: it also runs from process.on('exit').
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

export class Cleanup {
  private readonly children = new Set<ChildProcess>();
  private readonly dirs: string[] = [];

  track(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  trackDir(dir: string): void {
    this.dirs.push(dir);
  }

  /** SIGCONT (a stopped process ignores SIGKILL until continued on some systems) then SIGKILL each child; remove the folders. */
  runSync(): void {
    for (const child of this.children) {
      try {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    this.children.clear();
    for (const dir of this.dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  }
}
