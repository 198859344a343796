/**
 * A redis-server of the chaos suite's own (own port and directory), never the
 * shared one on 6379: the suite SIGKILLs it. The append-only file is synced
 * on every write (appendfsync always), so what Redis acknowledged survives a
 * SIGKILL, as the inventory's stock and barrier records must; RDB snapshots
 * are off (the AOF is the only copy needed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import { freePort } from './free-port';

/** Path of redis-server on PATH, or undefined. */
export function redisServerPath(): string | undefined {
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    if (d && fs.existsSync(path.join(d, 'redis-server'))) return path.join(d, 'redis-server');
  }
  return undefined;
}

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port and directory (reloading the AOF); resolves when it answers PING. */
  start(): Promise<void>;
  readonly running: boolean;
}

export async function startPrivateRedis(dir: string, onSpawn: (child: ChildProcess) => void): Promise<PrivateRedis> {
  const bin = redisServerPath();
  if (!bin) throw new Error('redis-server not found on PATH (Debian package redis-server)');
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const answers = async (): Promise<boolean> => {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, retryStrategy: () => null });
    // connect() rejects too; without a listener ioredis also prints the error event.
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      // LOADING while the AOF is replayed: not ready yet.
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  };

  const start = async (): Promise<void> => {
    const proc = spawn(
      bin,
      [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--dir', dir,
        '--appendonly', 'yes',
        '--appendfsync', 'always',
        '--save', '',
        '--logfile', path.join(dir, 'redis.log'),
      ],
      { stdio: 'ignore' },
    );
    child = proc;
    onSpawn(proc);
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const giveUp = Date.now() + 30_000;
    while (!(await answers())) {
      if (proc.exitCode !== null || Date.now() > giveUp) {
        proc.kill('SIGKILL');
        throw new Error(`private redis-server did not answer on port ${port} (see ${path.join(dir, 'redis.log')})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  await start();
  return {
    port,
    url,
    start,
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
  };
}
