/**
 * Benchmark of the TCC coordinator: durable 2-branch transactions per second.
 *
 *   npx tsc -p . && node dist/bench/run.js [--seconds 10] [--concurrency 64]
 *       [--db sqlite|mysql|both] [--wait false|true|both] [--warmup 2]
 *       [--mysql-url mysql://root@127.0.0.1:3306] [--redis-url redis://127.0.0.1:6379]
 *       [--max-error-rate 0.01] [--write | --results FILE] [--profile DIR]
 *
 * For every (db, wait) scenario it starts, as separate processes:
 *   - a participant (bench/participant-server.js) answering OK at once,
 *   - a coordinator (dist/src/main.js) on a fresh database (SQLite temp file,
 *     or a new MySQL database tcc_bench_<timestamp> that is dropped afterwards),
 * then drives it from this process with `concurrency` closed-loop workers,
 * each calling Execute with 2 branches back to back, over one grpc client.
 * Results are printed as a markdown table; appended to bench/RESULTS.md only
 * with --write (it is tracked: a casual run must not change the tree), or to FILE with --results.
 *
 * The bench is bounded: a watchdog kills everything and exits 1 when the run
 * takes far longer than planned; children are always killed in `finally`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import * as mysql from 'mysql2/promise';
import type { CoordinatorClient } from '../src/generated/tcc/v1/Coordinator';
import type { ExecuteRequest } from '../src/generated/tcc/v1/ExecuteRequest';
import type { Transaction__Output } from '../src/generated/tcc/v1/Transaction';
import { loadTccProto } from '../src/protocol/tcc-proto';

// ---------------------------------------------------------------- options

type DbKind = 'sqlite' | 'mysql';

interface Options {
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
  dbs: DbKind[];
  waits: boolean[];
  mysqlUrl: string;
  redisUrl?: string;
  maxErrorRate: number;
  resultsFile?: string;
  drainSeconds: number;
  /** Write a V8 CPU profile of each coordinator process into this folder. */
  profileDir?: string;
  /** TCC_PARTICIPANT_TRANSPORT of the coordinator. */
  transport: 'stream' | 'unary';
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const COORDINATOR_MAIN = path.resolve(__dirname, '..', 'src', 'main.js');
const PARTICIPANT_MAIN = path.resolve(__dirname, 'participant-server.js');
const DEFAULT_RESULTS = path.join(REPO_ROOT, 'bench', 'RESULTS.md');

const USAGE = `usage: npm run bench -- [options]   (or: node dist/bench/run.js [options])

Durable 2-branch Execute transactions per second, per scenario (database x wait).

  --seconds N          measured time per scenario (default 10)
  --warmup N           unmeasured seconds before it (default 2)
  --concurrency N      closed-loop workers calling Execute (default 64)
  --db sqlite|mysql|both          databases to run on (default both)
  --wait false|true|both          Execute with wait=false, wait=true or both (default both)
  --mysql-url URL      mysql://user[:pass]@host[:port] where a fresh database tcc_bench_<time>
                       is created and dropped (default $TCC_BENCH_MYSQL_URL or mysql://root@127.0.0.1:3306)
  --redis-url URL      give the coordinator TCC_REDIS_URL (default: none)
  --transport stream|unary        the coordinator's TCC_PARTICIPANT_TRANSPORT (default stream)
  --max-error-rate R   fail when more than this fraction of calls failed (default 0.01)
  --drain-seconds N    longest wait for phase two to finish after the run (default 30)
  --write              append the results to bench/RESULTS.md (tracked; default: print only)
  --results FILE       append the results to FILE instead
  --profile DIR        run the coordinator with --cpu-prof, profiles in DIR
  -h, --help           this text
`;

/** --help: the usage on stdout, exit 0. A bad argument: the problem and the usage on stderr, exit 2. */
function usage(msg?: string): never {
  if (msg === undefined) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  process.stderr.write(`bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    concurrency: 64,
    seconds: 10,
    warmupSeconds: 2,
    dbs: ['sqlite', 'mysql'],
    waits: [false, true],
    mysqlUrl: process.env.TCC_BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306',
    redisUrl: undefined,
    maxErrorRate: 0.01,
    resultsFile: undefined,
    drainSeconds: 30,
    transport: 'stream',
  };
  const num = (name: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min || n > max) usage(`${name} must be a number in [${min}, ${max}]`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const next = (): string | undefined => (eq > 0 ? a.slice(eq + 1) : argv[++i]);
    switch (name) {
      case '--concurrency':
        o.concurrency = Math.floor(num(name, next(), 1, 10_000));
        break;
      case '--seconds':
        o.seconds = num(name, next(), 0.5, 3_600);
        break;
      case '--warmup':
        o.warmupSeconds = num(name, next(), 0, 600);
        break;
      case '--drain-seconds':
        o.drainSeconds = num(name, next(), 0, 600);
        break;
      case '--max-error-rate':
        o.maxErrorRate = num(name, next(), 0, 1);
        break;
      case '--db': {
        const v = next();
        if (v === 'both') o.dbs = ['sqlite', 'mysql'];
        else if (v === 'sqlite' || v === 'mysql') o.dbs = [v];
        else usage('--db must be sqlite, mysql or both');
        break;
      }
      case '--wait': {
        const v = next();
        if (v === 'both') o.waits = [false, true];
        else if (v === 'true') o.waits = [true];
        else if (v === 'false') o.waits = [false];
        else usage('--wait must be false, true or both');
        break;
      }
      case '--mysql-url': {
        const v = next();
        if (!v || !/^mysql:\/\//.test(v)) usage('--mysql-url must be mysql://user[:pass]@host[:port]');
        o.mysqlUrl = v.replace(/\/+$/, '');
        break;
      }
      case '--redis-url': {
        const v = next();
        if (!v || !/^rediss?:\/\//.test(v)) usage('--redis-url must be redis://host:port');
        o.redisUrl = v;
        break;
      }
      case '--transport': {
        const v = next();
        if (v !== 'stream' && v !== 'unary') usage('--transport must be stream or unary');
        o.transport = v;
        break;
      }
      case '--results': {
        const v = next();
        if (!v) usage('--results needs a file');
        o.resultsFile = path.resolve(v);
        break;
      }
      case '--profile': {
        const v = next();
        if (!v) usage('--profile needs a folder');
        o.profileDir = path.resolve(v);
        break;
      }
      case '--write':
        o.resultsFile = DEFAULT_RESULTS;
        break;
      case '--no-results': // the default now; kept so older command lines still run
        o.resultsFile = undefined;
        break;
      case '--help':
      case '-h':
        usage();
        break;
      default:
        usage(`unknown argument ${a.slice(0, 64)}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** A free TCP port: bind port 0, read it, close. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      srv.close(() => resolve(addr.port));
    });
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 5_000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 5_000,
    }).trim();
    return dirty ? `${sha} (uncommitted changes)` : sha;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------- CPU accounting (/proc)

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2_000 }).trim()) || 100;
} catch {
  /* keep 100 */
}

/** utime + stime of a process in seconds, or undefined when /proc is not readable. */
function procCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is fields[0]; utime is field 14 overall -> index 11, stime -> 12.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}

/** pid of the local MariaDB/MySQL server, for its CPU share (best effort). */
function findDbServerPid(): number | undefined {
  try {
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const comm = fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim();
        if (comm === 'mariadbd' || comm === 'mysqld') return Number(d);
      } catch {
        /* gone */
      }
    }
  } catch {
    /* no /proc */
  }
  return undefined;
}

// ---------------------------------------------------------------- child processes

const children = new Set<ChildProcess>();

process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Child {
  proc: ChildProcess;
  /** Last lines of stdout+stderr, for diagnostics. */
  tail: string[];
  /** Log lines by pino level name (coordinator) or 'other'. */
  levels: Record<string, number>;
  exited: Promise<number | null>;
}

const PINO_LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

function spawnChild(name: string, args: string[], env: NodeJS.ProcessEnv, onLine?: (line: string) => void): Child {
  const proc = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(proc);
  const tail: string[] = [];
  const levels: Record<string, number> = {};
  const collect = (stream: NodeJS.ReadableStream | null, label: string) => {
    if (!stream) return;
    const rl = readline.createInterface({ input: stream });
    rl.on('line', (line) => {
      tail.push(`${name}/${label}: ${line}`);
      if (tail.length > 30) tail.shift();
      let level = 'other';
      try {
        const j = JSON.parse(line) as { level?: number | string };
        if (typeof j.level === 'number') level = PINO_LEVELS[j.level] ?? String(j.level);
        else if (typeof j.level === 'string') level = j.level;
      } catch {
        /* not JSON */
      }
      levels[level] = (levels[level] ?? 0) + 1;
      onLine?.(line);
    });
  };
  collect(proc.stdout, 'out');
  collect(proc.stderr, 'err');
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code, signal) => {
      children.delete(proc);
      resolve(code ?? (signal ? -1 : null));
    }),
  );
  proc.on('error', (err) => {
    tail.push(`${name}: spawn error ${err.message}`);
  });
  return { proc, tail, levels, exited };
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process has exited. */
async function stopChild(child: Child | undefined, graceMs = 5_000): Promise<void> {
  if (!child) return;
  const p = child.proc;
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await Promise.race([child.exited, sleep(graceMs + 2_000)]);
  clearTimeout(t);
  p.stdin?.destroy();
}

interface Participant {
  child: Child;
  port: number;
  /** Resolves with the call counts the participant reports when stopped. */
  stats: Promise<Record<string, number> | undefined>;
}

async function startParticipant(): Promise<Participant> {
  let onListening!: (port: number) => void;
  let onStats!: (calls: Record<string, number> | undefined) => void;
  const listening = new Promise<number>((r) => (onListening = r));
  const stats = new Promise<Record<string, number> | undefined>((r) => (onStats = r));
  const child = spawnChild('participant', [PARTICIPANT_MAIN], { ...process.env }, (line) => {
    try {
      const j = JSON.parse(line) as { event?: string; port?: number; calls?: Record<string, number> };
      if (j.event === 'listening' && typeof j.port === 'number') onListening(j.port);
      if (j.event === 'stopped' && j.calls) onStats(j.calls);
    } catch {
      /* ignore */
    }
  });
  void child.exited.then(() => onStats(undefined));
  const port = await Promise.race([
    listening,
    child.exited.then((code) => Promise.reject(new Error(`participant exited (${code}) before listening:\n${child.tail.join('\n')}`))),
    sleep(15_000).then(() => Promise.reject(new Error('participant did not report its port within 15 s'))),
  ]);
  return { child, port, stats };
}

function coordinatorEnv(addr: string, dbUrl: string, redisUrl: string | undefined, transport: Options['transport']): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Only our TCC_* settings: anything from the caller's shell would make runs incomparable.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TCC_')) env[k] = v;
  env.TCC_GRPC_ADDR = addr;
  env.TCC_DB_URL = dbUrl;
  env.TCC_LOG_LEVEL = 'warn';
  env.TCC_SHUTDOWN_GRACE_MS = '3000';
  if (redisUrl) env.TCC_REDIS_URL = redisUrl;
  env.TCC_PARTICIPANT_TRANSPORT = transport;
  return env;
}

function makeClient(address: string): CoordinatorClient {
  const { grpcObject } = loadTccProto();
  return new grpcObject.tcc.v1.Coordinator(address, grpc.credentials.createInsecure());
}

/** Retries GetTransaction on an unknown gid until the coordinator answers NOT_FOUND. */
async function waitForCoordinator(client: CoordinatorClient, child: Child, timeoutMs = 60_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`coordinator exited (${child.proc.exitCode ?? child.proc.signalCode}) during start:\n${child.tail.join('\n')}`);
    }
    const code = await new Promise<grpc.status>((resolve) =>
      client.GetTransaction({ gid: 'bench-readiness-probe' }, { deadline: Date.now() + 1_000 }, (err) =>
        resolve(err ? (err.code ?? grpc.status.UNKNOWN) : grpc.status.OK),
      ),
    );
    if (code === grpc.status.NOT_FOUND) return;
    last = grpc.status[code] ?? String(code);
    if (Date.now() > giveUpAt) throw new Error(`coordinator not ready after ${timeoutMs} ms (last answer ${last}):\n${child.tail.join('\n')}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------- databases

interface BenchDb {
  kind: DbKind;
  url: string;
  label: string;
  /** Transactions by status, read directly from the store. */
  statusCounts(): Promise<Record<string, number>>;
  cleanup(): Promise<void>;
}

async function createSqliteDb(): Promise<BenchDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-bench-'));
  const file = path.join(dir, 'tcc.sqlite');
  let reader: Database.Database | undefined;
  return {
    kind: 'sqlite',
    url: `sqlite:${file}`,
    label: file,
    async statusCounts() {
      reader ??= new Database(file, { readonly: true, fileMustExist: true });
      reader.pragma('busy_timeout = 5000');
      const rows = reader.prepare('SELECT status, COUNT(*) AS n FROM tcc_transactions GROUP BY status').all() as {
        status: string;
        n: number;
      }[];
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
    async cleanup() {
      reader?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function createMysqlDb(baseUrl: string): Promise<BenchDb> {
  const u = new URL(baseUrl);
  const connOpts: mysql.ConnectionOptions = {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username) || 'root',
    password: decodeURIComponent(u.password),
    connectTimeout: 10_000,
  };
  const name = `tcc_bench_${Date.now()}`;
  const admin = await mysql.createConnection(connOpts);
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } catch (err) {
    await admin.end().catch(() => undefined);
    throw err;
  }
  const cred = u.username ? `${u.username}${u.password ? `:${u.password}` : ''}@` : 'root@';
  return {
    kind: 'mysql',
    url: `mysql://${cred}${u.host}/${name}`,
    label: name,
    async statusCounts() {
      const [rows] = await admin.query(`SELECT status, COUNT(*) AS n FROM \`${name}\`.tcc_transactions GROUP BY status`);
      return Object.fromEntries((rows as { status: string; n: number }[]).map((r) => [r.status, Number(r.n)]));
    },
    async cleanup() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await admin.end().catch(() => undefined);
      }
    },
  };
}

// ---------------------------------------------------------------- load generation

interface LoadResult {
  committed: number;
  /** Completions (any outcome) inside the measurement window. */
  completed: number;
  latenciesMs: Float64Array;
  errors: Record<string, number>;
  statuses: Record<string, number>;
  windowSeconds: number;
  /** Calls still running when the window closed (they finish afterwards, uncounted). */
  lateCalls: number;
}

function execute(client: CoordinatorClient, req: ExecuteRequest, deadlineMs: number): Promise<{ tx?: Transaction__Output; code: grpc.status }> {
  return new Promise((resolve) => {
    client.Execute(req, { deadline: Date.now() + deadlineMs }, (err, tx) => {
      if (err) resolve({ code: err.code ?? grpc.status.UNKNOWN });
      else resolve({ tx, code: grpc.status.OK });
    });
  });
}

async function runLoad(
  client: CoordinatorClient,
  participantAddr: string,
  opts: { concurrency: number; warmupSeconds: number; seconds: number; wait: boolean },
): Promise<LoadResult> {
  const payloadA = Buffer.from(JSON.stringify({ account: 'A', amount: 1 }));
  const payloadB = Buffer.from(JSON.stringify({ account: 'B', amount: 1 }));
  const req: ExecuteRequest = {
    branches: [
      { participant: participantAddr, action: 'debit', payload: payloadA },
      { participant: participantAddr, action: 'credit', payload: payloadB },
    ],
    wait: opts.wait,
  };
  const deadlineMs = opts.wait ? 20_000 : 10_000;

  const start = performance.now();
  const measureStart = start + opts.warmupSeconds * 1_000;
  const measureEnd = measureStart + opts.seconds * 1_000;
  const lat: number[] = [];
  const errors: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  let committed = 0;
  let completed = 0;
  let inFlight = 0;
  let lateCalls = 0;
  let windowClosed = false;

  const worker = async () => {
    while (performance.now() < measureEnd) {
      const t0 = performance.now();
      inFlight++;
      const { tx, code } = await execute(client, req, deadlineMs);
      inFlight--;
      const t1 = performance.now();
      if (t1 < measureStart || t1 > measureEnd) continue;
      completed++;
      if (code === grpc.status.OK && tx) {
        // Execute answering OK means the commit decision is durable.
        committed++;
        lat.push(t1 - t0);
        statuses[tx.status] = (statuses[tx.status] ?? 0) + 1;
      } else {
        const name = grpc.status[code] ?? `CODE_${code}`;
        errors[name] = (errors[name] ?? 0) + 1;
      }
    }
  };
  const closeTimer = setTimeout(
    () => {
      windowClosed = true;
      lateCalls = inFlight;
    },
    measureEnd - performance.now(),
  );
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  clearTimeout(closeTimer);
  if (!windowClosed) lateCalls = 0;

  const latenciesMs = Float64Array.from(lat).sort();
  return { committed, completed, latenciesMs, errors, statuses, windowSeconds: opts.seconds, lateCalls };
}

// ---------------------------------------------------------------- scenario

interface ScenarioResult {
  db: DbKind;
  wait: boolean;
  concurrency: number;
  load: LoadResult;
  txPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  cpu: { coordinator?: number; participant?: number; loadgen: number; dbServer?: number };
  backlogAtEnd?: number;
  drainSeconds?: number;
  finalStatuses?: Record<string, number>;
  participantCalls?: Record<string, number>;
  coordinatorLogLevels: Record<string, number>;
  coordinatorTail: string[];
  notes: string[];
}

async function runScenario(o: Options, kind: DbKind, wait: boolean): Promise<ScenarioResult> {
  let db: BenchDb | undefined;
  let participant: Participant | undefined;
  let coordinator: Child | undefined;
  let client: CoordinatorClient | undefined;
  const notes: string[] = [];
  try {
    db = kind === 'sqlite' ? await createSqliteDb() : await createMysqlDb(o.mysqlUrl);
    participant = await startParticipant();
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const nodeArgs = o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] : [];
    coordinator = spawnChild('coordinator', [...nodeArgs, COORDINATOR_MAIN], coordinatorEnv(addr, db.url, o.redisUrl, o.transport));
    client = makeClient(addr);
    await waitForCoordinator(client, coordinator);
    log(`${kind} wait=${wait}: coordinator pid ${coordinator.proc.pid} on ${addr}, db ${db.label}, participant pid ${participant.child.proc.pid} on :${participant.port}`);

    const dbPid = kind === 'mysql' ? findDbServerPid() : undefined;
    // CPU is sampled across the measurement window only (after the warm-up).
    const cpuStart: { c?: number; p?: number; d?: number; self?: NodeJS.CpuUsage; t?: number } = {};
    const sampleTimer = setTimeout(() => {
      cpuStart.c = procCpuSeconds(coordinator?.proc.pid);
      cpuStart.p = procCpuSeconds(participant?.child.proc.pid);
      cpuStart.d = procCpuSeconds(dbPid);
      cpuStart.self = process.cpuUsage();
      cpuStart.t = performance.now();
    }, o.warmupSeconds * 1_000);
    const loadPromise = runLoad(client, `127.0.0.1:${participant.port}`, {
      concurrency: o.concurrency,
      warmupSeconds: o.warmupSeconds,
      seconds: o.seconds,
      wait,
    });
    // CPU sample at the window's end (not after the late calls).
    const cpuEnd = sleep((o.warmupSeconds + o.seconds) * 1_000).then(() => {
      const t = performance.now();
      const c = procCpuSeconds(coordinator?.proc.pid);
      const p = procCpuSeconds(participant?.child.proc.pid);
      const d = procCpuSeconds(dbPid);
      const self = process.cpuUsage(cpuStart.self);
      const wall = (t - (cpuStart.t ?? t)) / 1_000;
      const pct = (a?: number, b?: number) => (a !== undefined && b !== undefined && wall > 0 ? ((a - b) / wall) * 100 : undefined);
      return {
        coordinator: pct(c, cpuStart.c),
        participant: pct(p, cpuStart.p),
        dbServer: pct(d, cpuStart.d),
        loadgen: wall > 0 ? ((self.user + self.system) / 1e6 / wall) * 100 : NaN,
      };
    });
    const [load, cpu] = await Promise.all([loadPromise, cpuEnd]);
    clearTimeout(sampleTimer);

    // Every Execute has returned now. With wait=false, Confirm runs after the answer:
    // how many transactions are still not finished, and how long until the coordinator catches up?
    const open = (s: Record<string, number>) => (s.CONFIRMING ?? 0) + (s.TRYING ?? 0) + (s.CANCELLING ?? 0);
    let backlogAtEnd: number | undefined;
    let drainSeconds: number | undefined;
    let finalStatuses: Record<string, number> | undefined;
    try {
      const t0 = performance.now();
      finalStatuses = await db.statusCounts();
      backlogAtEnd = open(finalStatuses);
      for (;;) {
        const n = open(finalStatuses);
        if (n === 0) {
          drainSeconds = (performance.now() - t0) / 1_000;
          break;
        }
        if (performance.now() - t0 > o.drainSeconds * 1_000) {
          notes.push(`${n} transactions still not finished ${o.drainSeconds} s after the load stopped`);
          break;
        }
        await sleep(50);
        finalStatuses = await db.statusCounts();
      }
    } catch (err) {
      notes.push(`reading transaction statuses failed: ${(err as Error).message}`);
    }

    const l = load.latenciesMs;
    const mean = l.length ? l.reduce((a, b) => a + b, 0) / l.length : NaN;
    const errorCount = Object.values(load.errors).reduce((a, b) => a + b, 0);
    if (load.completed > 0 && errorCount / load.completed > o.maxErrorRate) {
      notes.push(`error rate ${((errorCount / load.completed) * 100).toFixed(2)}% above --max-error-rate ${o.maxErrorRate * 100}%`);
    }
    client.close();
    client = undefined;
    await stopChild(coordinator);
    await stopChild(participant.child);
    const participantCalls = await Promise.race([participant.stats, sleep(1_000).then(() => undefined)]);
    return {
      db: kind,
      wait,
      concurrency: o.concurrency,
      load,
      txPerSec: load.committed / load.windowSeconds,
      p50: percentile(l, 50),
      p95: percentile(l, 95),
      p99: percentile(l, 99),
      max: l.length ? l[l.length - 1] : NaN,
      mean,
      cpu,
      backlogAtEnd,
      drainSeconds,
      finalStatuses,
      participantCalls,
      coordinatorLogLevels: { ...coordinator.levels },
      coordinatorTail: [...coordinator.tail],
      notes,
    };
  } finally {
    client?.close();
    await stopChild(coordinator).catch(() => undefined);
    await stopChild(participant?.child).catch(() => undefined);
    await db?.cleanup().catch((err: Error) => log(`cleanup of ${db?.label} failed: ${err.message}`));
  }
}

// ---------------------------------------------------------------- reporting

function table(results: ScenarioResult[]): string {
  const head =
    '| db | wait | conc. | committed tx/s | p50 ms | p95 ms | p99 ms | max ms | errors | coord. CPU % | coord. CPU ms/tx | participant CPU % | load-gen CPU % | mysqld CPU % | open tx after load | drained in s |';
  const sep = '|' + head.split('|').slice(1, -1).map(() => '---').join('|') + '|';
  const rows = results.map((r) => {
    const errs = Object.entries(r.load.errors)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return (
      `| ${r.db} | ${r.wait} | ${r.concurrency} | **${fmt(r.txPerSec, 0)}** | ${fmt(r.p50)} | ${fmt(r.p95)} | ${fmt(r.p99)} | ${fmt(r.max)} | ` +
      `${errs || '0'} | ${fmt(r.cpu.coordinator ?? NaN, 0)} | ${fmt((r.cpu.coordinator ?? NaN) * 10 / r.txPerSec, 2)} | ${fmt(r.cpu.participant ?? NaN, 0)} | ${fmt(r.cpu.loadgen, 0)} | ` +
      `${r.db === 'mysql' ? fmt(r.cpu.dbServer ?? NaN, 0) : '-'} | ${r.backlogAtEnd ?? '-'} | ${r.drainSeconds === undefined ? '-' : fmt(r.drainSeconds, 1)} |`
    );
  });
  return [head, sep, ...rows].join('\n');
}

function details(results: ScenarioResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    const parts: string[] = [];
    parts.push(`committed ${r.load.committed} in ${r.load.windowSeconds} s, mean ${fmt(r.mean)} ms`);
    parts.push(`answers by status ${JSON.stringify(r.load.statuses)}`);
    if (r.finalStatuses) parts.push(`store after drain ${JSON.stringify(r.finalStatuses)}`);
    if (r.participantCalls) parts.push(`participant calls ${JSON.stringify(r.participantCalls)}`);
    const lv = Object.entries(r.coordinatorLogLevels).filter(([k]) => k !== 'info');
    if (lv.length) parts.push(`coordinator log lines ${JSON.stringify(Object.fromEntries(lv))}`);
    out.push(`- ${r.db}, wait=${r.wait}: ${parts.join('; ')}`);
    for (const n of r.notes) out.push(`  - note: ${n}`);
  }
  return out.join('\n');
}

const RESULTS_HEADER = `# Benchmark results

What is measured: **durable 2-branch TCC transactions per second**. Each
transaction is one \`Execute\` call with two branches (small JSON payloads) to
a participant that answers OK at once; an OK answer means the commit decision
is on disk (SQLite WAL with \`synchronous=FULL\`, or InnoDB). \`wait=false\`
answers once the decision is durable and Confirm runs in the background;
\`wait=true\` answers after both Confirms have succeeded.

How to run (needs MariaDB/MySQL at 127.0.0.1:3306 as root for the mysql rows):

    npx tsc -p . && node dist/bench/run.js --seconds 10      # or: npm run bench
    node dist/bench/run.js --db sqlite --wait false --concurrency 128 --seconds 30

Setup: the load generator (this process), the coordinator (\`node dist/src/main.js\`)
and the participant (\`dist/bench/participant-server.js\`) are three separate
processes, each with its own event loop, all on the same machine (and so is the
database). The load generator runs \`--concurrency\` closed-loop workers over one
gRPC client, every call with a deadline; after a warm-up (default 2 s) it counts
calls completing inside the measurement window. Each scenario gets a fresh
coordinator and a fresh database (SQLite temp file; MySQL database
\`tcc_bench_<timestamp>\`, dropped afterwards).

Columns: throughput = Execute calls answered OK per second; latency percentiles
of those calls; errors by gRPC code; CPU % of each process over the window
(100 % = one core fully busy, from /proc/<pid>/stat) and the coordinator's CPU
time per committed transaction; open tx after load =
transactions not yet CONFIRMED once every Execute call had returned (the
phase-two backlog of wait=false), and how long the coordinator then took to
finish them.

Target: **≥ 2,000 tx/s on 2 cores** (a later milestone).
`;

function machineInfo(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.trim() ?? 'unknown';
  return (
    `${cpus.length} CPU(s) (${model}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ` +
    `${os.type()} ${os.release()}, Node ${process.version}`
  );
}

function loadAvg(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

function section(o: Options, results: ScenarioResult[], commit: string, loadBefore: string): string {
  const when = new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const cpus = os.cpus().length;
  return [
    `## ${when} — commit ${commit}`,
    '',
    `Machine: ${machineInfo()}.`,
    `Load generator, coordinator, participant${o.dbs.includes('mysql') ? ' and MariaDB/MySQL' : ''} all share these ${cpus} core(s): the numbers are a floor for a dedicated coordinator host.`,
    `Load average (1/5/15 min) before: ${loadBefore}, after: ${loadAvg()} (anything else running on the host skews the numbers).`,
    `Settings: ${o.transport} transport, concurrency ${o.concurrency}, warm-up ${o.warmupSeconds} s, measured ${o.seconds} s, 2 branches per transaction${o.redisUrl ? `, Redis ${o.redisUrl}` : ', no Redis'}.`,
    '',
    table(results),
    '',
    details(results),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  for (const f of [COORDINATOR_MAIN, PARTICIPANT_MAIN]) {
    if (!fs.existsSync(f)) throw new Error(`${f} not found: build first (npx tsc -p .)`);
  }
  const scenarios = o.dbs.flatMap((db) => o.waits.map((wait) => ({ db, wait })));
  // Watchdog: every scenario needs warm-up + window + start/drain/stop; anything far beyond is a hang.
  const budgetMs = scenarios.length * ((o.warmupSeconds + o.seconds + o.drainSeconds) * 1_000 + 120_000);
  const watchdog = setTimeout(() => {
    log(`watchdog: run exceeded ${Math.round(budgetMs / 1000)} s, killing children`);
    for (const c of children) c.kill('SIGKILL');
    process.exit(1);
  }, budgetMs);
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping`);
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const loadBefore = loadAvg();
  log(`machine: ${machineInfo()}; load average ${loadBefore}`);
  log(`scenarios: ${scenarios.map((s) => `${s.db}/wait=${s.wait}`).join(', ')}; ${o.concurrency} workers, ${o.warmupSeconds} s warm-up + ${o.seconds} s each`);

  const results: ScenarioResult[] = [];
  const failures: string[] = [];
  for (const s of scenarios) {
    try {
      const r = await runScenario(o, s.db, s.wait);
      results.push(r);
      log(`${s.db} wait=${s.wait}: ${fmt(r.txPerSec, 0)} tx/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, errors ${JSON.stringify(r.load.errors)}`);
      if (r.load.committed === 0) failures.push(`${s.db} wait=${s.wait}: no transaction committed`);
      for (const n of r.notes) if (/error rate|still not finished/.test(n)) failures.push(`${s.db} wait=${s.wait}: ${n}`);
      if (r.load.committed === 0 || Object.keys(r.load.errors).length) {
        const tail = r.coordinatorTail.slice(-10);
        if (tail.length) log(`coordinator output (last lines):\n${tail.join('\n')}`);
      }
    } catch (err) {
      failures.push(`${s.db} wait=${s.wait}: ${(err as Error).message}`);
      log(`${s.db} wait=${s.wait} FAILED: ${(err as Error).stack ?? String(err)}`);
    }
  }

  if (results.length) {
    const commit = gitCommit();
    const md = section(o, results, commit, loadBefore);
    process.stdout.write('\n' + md + '\n');
    if (o.resultsFile) {
      if (!fs.existsSync(o.resultsFile)) fs.writeFileSync(o.resultsFile, RESULTS_HEADER);
      const existing = fs.readFileSync(o.resultsFile, 'utf8');
      fs.appendFileSync(o.resultsFile, (existing.endsWith('\n\n') ? '' : existing.endsWith('\n') ? '\n' : '\n\n') + md);
      log(`appended to ${path.relative(process.cwd(), o.resultsFile) || o.resultsFile}`);
    }
  }
  clearTimeout(watchdog);
  if (failures.length) {
    log(`FAILED:\n  ${failures.join('\n  ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`fatal: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(1);
  },
);
