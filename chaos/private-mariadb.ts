/**
 * A MariaDB server of the caller's own (own data directory, port and socket),
 * for tests and the chaos suite, which stop, stall, kill or restart the
 * database: never the shared server on 3306. Needs mariadb-install-db and
 * mariadbd (Debian package mariadb-server). Lives here, outside test/, because
 * `npm run chaos` ships with the repository and test/helpers re-exports it.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as mysql from 'mysql2/promise';
import { freePort } from './free-port';

const MARIADBD_CANDIDATES = ['/usr/sbin/mariadbd', '/usr/bin/mariadbd'];

function findOnPath(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    if (d && fs.existsSync(path.join(d, cmd))) return path.join(d, cmd);
  }
  return undefined;
}

/** Paths of mariadb-install-db and mariadbd, or undefined when either is missing. */
export function privateMariadbTools(): { installDb: string; mariadbd: string } | undefined {
  const installDb = findOnPath('mariadb-install-db');
  const mariadbd = findOnPath('mariadbd') ?? MARIADBD_CANDIDATES.find((p) => fs.existsSync(p));
  return installDb && mariadbd ? { installDb, mariadbd } : undefined;
}


export interface PrivateMariadb {
  readonly port: number;
  /** mysql:// URL of `database` on this server. */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  /** SIGTERM and wait for the process to exit. */
  stop(): Promise<void>;
  /** Starts the server again on the same data directory and port; resolves when it answers. */
  start(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing. */
  pause(): void;
  /** SIGCONT after {@link PrivateMariadb.pause}. */
  resume(): void;
  /** SIGKILL (a crash: nothing flushed beyond what InnoDB already made durable) and wait for the exit. */
  kill(): Promise<void>;
  /** Whether the server process is up (started and not exited). */
  readonly running: boolean;
  /** Stops (if running) and deletes the data directory. */
  destroy(): Promise<void>;
}

/** Options of {@link startPrivateMariadb}. */
export interface PrivateMariadbOptions {
  /** Folder to create the data directory in. Default: os.tmpdir(). */
  parentDir?: string;
  /** Called with every mariadbd process started, so a caller can kill it on Ctrl-C. Default: none. */
  onSpawn?: (child: ChildProcess) => void;
  /** More mariadbd options for every start (e.g. `--max-allowed-packet=1M`). Default: none. */
  extraArgs?: readonly string[];
}

export async function startPrivateMariadb(options: PrivateMariadbOptions = {}): Promise<PrivateMariadb> {
  const t = privateMariadbTools();
  if (!t) throw new Error('mariadb-install-db / mariadbd not installed');
  const dir = fs.mkdtempSync(path.join(options.parentDir ?? os.tmpdir(), 'tcc-private-mariadb-'));
  const datadir = path.join(dir, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  await promisify(execFile)(t.installDb, [
    '--no-defaults',
    `--datadir=${datadir}`,
    ...asRoot,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ]);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const answers = async (): Promise<boolean> => {
    try {
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1_000 });
      await c.end();
      return true;
    } catch {
      return false;
    }
  };

  const start = async (): Promise<void> => {
    const proc = spawn(
      t.mariadbd,
      [
        '--no-defaults',
        `--datadir=${datadir}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${path.join(dir, 'sock')}`,
        `--pid-file=${path.join(dir, 'pid')}`,
        `--log-error=${path.join(dir, 'error.log')}`,
        ...asRoot,
        // Loopback only, a throwaway server: no accounts needed.
        '--skip-grant-tables',
        '--skip-log-bin',
        '--innodb-buffer-pool-size=16M',
        '--innodb-log-file-size=8M',
        ...(options.extraArgs ?? []),
      ],
      { stdio: 'ignore' },
    );
    child = proc;
    options.onSpawn?.(proc);
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const giveUp = Date.now() + 60_000;
    while (!(await answers())) {
      if (proc.exitCode !== null || Date.now() > giveUp) {
        const log = fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2_000) : '';
        proc.kill('SIGKILL');
        throw new Error(`private mariadbd did not answer on port ${port}: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const stop = async (): Promise<void> => {
    if (!child || child.exitCode !== null) return;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child?.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killTimer);
  };

  await start();
  return {
    port,
    url: (db) => `mysql://root@127.0.0.1:${port}/${db}`,
    async createDatabase(name) {
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
      try {
        await c.query(`CREATE DATABASE IF NOT EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
    stop,
    start,
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async destroy() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
