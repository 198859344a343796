/**
 * Child processes of the benchmark (participant, coordinator) and what /proc
 * tells about them (CPU time, resident memory). Every child is registered in
 * `children` so the run can always kill what it started (finally, watchdog,
 * signals, process exit).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import type { CoordinatorClient } from '../src/generated/tcc/v1/Coordinator';
import { loadTccProto } from '../src/protocol/tcc-proto';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const COORDINATOR_MAIN = path.resolve(__dirname, '..', 'src', 'main.js');
export const PARTICIPANT_MAIN = path.resolve(__dirname, 'participant-server.js');

export type Transport = 'stream' | 'unary';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** A free TCP port: bind port 0, read it, close. */
export function freePort(): Promise<number> {
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

// ---------------------------------------------------------------- /proc

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2_000 }).trim()) || 100;
} catch {
  /* keep 100 */
}

/** utime + stime of a process in seconds, or undefined when /proc is not readable. */
export function procCpuSeconds(pid: number | undefined): number | undefined {
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

/** VmRSS of a process in MiB, or undefined when it is gone or /proc is not readable. */
export function procRssMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; keeps the maximum (and every sample when asked). */
export class RssSampler {
  max = NaN;
  readonly samples: { atMs: number; mb: number }[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = Date.now();

  constructor(
    private readonly pid: number | undefined,
    everyMs: number,
    private readonly keep = false,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  sample(): number | undefined {
    const mb = procRssMb(this.pid);
    if (mb === undefined) return undefined;
    if (!(mb <= this.max)) this.max = mb;
    if (this.keep) this.samples.push({ atMs: Date.now() - this.t0, mb });
    return mb;
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }
}

/** pid of the local MariaDB/MySQL server, for its CPU share (best effort). */
export function findDbServerPid(): number | undefined {
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

// ---------------------------------------------------------------- children

export const children = new Set<ChildProcess>();

process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export function killAllChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}

/**
 * Clean-ups to run when the run is cut short (signal, watchdog): the
 * scenarios' databases (a temp folder, a MySQL database on a shared server).
 * A scenario registers its clean-up while it runs and removes it once done.
 */
const pendingCleanups = new Set<() => Promise<void>>();

export function registerCleanup(fn: () => Promise<void>): () => void {
  pendingCleanups.add(fn);
  return () => pendingCleanups.delete(fn);
}

/** Kills every child, then runs the pending clean-ups (at most `timeoutMs` in all). */
export async function abortAll(timeoutMs = 5_000): Promise<void> {
  killAllChildren();
  const all = [...pendingCleanups].map((fn) => fn().catch(() => undefined));
  pendingCleanups.clear();
  await Promise.race([Promise.all(all), sleep(timeoutMs)]);
}

export interface Child {
  proc: ChildProcess;
  /** Last lines of stdout+stderr, for diagnostics. */
  tail: string[];
  /** Log lines by pino level name (coordinator) or 'other'. */
  levels: Record<string, number>;
  exited: Promise<number | null>;
}

const PINO_LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

export function spawnChild(name: string, args: string[], env: NodeJS.ProcessEnv, onLine?: (line: string) => void): Child {
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
export async function stopChild(child: Child | undefined, graceMs = 5_000): Promise<void> {
  if (!child) return;
  const p = child.proc;
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await Promise.race([child.exited, sleep(graceMs + 2_000)]);
  clearTimeout(t);
  p.stdin?.destroy();
}

// ---------------------------------------------------------------- participant

export interface Participant {
  child: Child;
  port: number;
  addr: string;
  /** Resolves with the call counts the participant reports when stopped. */
  stats: Promise<Record<string, number> | undefined>;
  /** How Confirm answers from now on (a line on its stdin; see participant-server.ts). */
  setConfirm(mode: ConfirmMode): void;
}

export type ConfirmMode = 'ok' | 'unavailable' | 'hang';

export async function startParticipant(): Promise<Participant> {
  let onListening!: (port: number) => void;
  let onStats!: (calls: Record<string, number> | undefined) => void;
  const listening = new Promise<number>((r) => (onListening = r));
  const stats = new Promise<Record<string, number> | undefined>((r) => (onStats = r));
  const child = spawnChild('participant', [PARTICIPANT_MAIN], { ...process.env, BENCH_PARTICIPANT_CONFIRM: 'ok' }, (line) => {
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
  return {
    child,
    port,
    addr: `127.0.0.1:${port}`,
    stats,
    setConfirm: (mode) => {
      child.proc.stdin?.write(`confirm ${mode}\n`);
    },
  };
}

/** The participant's call counts, reported as it stops (undefined when it does not answer in time). */
export async function stopParticipant(p: Participant | undefined): Promise<Record<string, number> | undefined> {
  if (!p) return undefined;
  await stopChild(p.child);
  return Promise.race([p.stats, sleep(1_000).then(() => undefined)]);
}

// ---------------------------------------------------------------- coordinator

export interface CoordinatorSettings {
  dbUrl: string;
  transport: Transport;
  redisUrl?: string;
  profileDir?: string;
  /** Further TCC_* settings (the backlog scenario's retry timing). */
  extraEnv?: Record<string, string>;
}

export interface Coordinator {
  child: Child;
  addr: string;
  /** host:port of its Prometheus /metrics. */
  metricsAddr: string;
  pid: number | undefined;
}

function coordinatorEnv(addr: string, metricsAddr: string, s: CoordinatorSettings): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Only our TCC_* settings: anything from the caller's shell would make runs incomparable.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TCC_')) env[k] = v;
  env.TCC_GRPC_ADDR = addr;
  env.TCC_DB_URL = s.dbUrl;
  env.TCC_LOG_LEVEL = 'warn';
  env.TCC_SHUTDOWN_GRACE_MS = '3000';
  // The store-batch counters (DB transactions) come from /metrics; two scrapes per scenario.
  env.TCC_METRICS_ADDR = metricsAddr;
  if (s.redisUrl) env.TCC_REDIS_URL = s.redisUrl;
  env.TCC_PARTICIPANT_TRANSPORT = s.transport;
  Object.assign(env, s.extraEnv ?? {});
  return env;
}

/**
 * The node flags of the coordinator's shebang (`#!/usr/bin/env -S node FLAGS`): the service
 * is started through it (npm start, the Dockerfile), so the bench runs it with the same heap
 * bounds; spawned with this process's node rather than through `env`, beside --cpu-prof.
 */
export function coordinatorNodeFlags(main = COORDINATOR_MAIN): string[] {
  const first = fs.readFileSync(main, 'utf8').split('\n', 1)[0];
  const m = /^#!\S*env -S node((?:\s+\S+)*)\s*$/.exec(first);
  return m ? m[1].trim().split(/\s+/).filter((f) => f !== '') : [];
}

/** Starts dist/src/main.js and waits until it answers. */
export async function startCoordinator(s: CoordinatorSettings): Promise<Coordinator> {
  const addr = `127.0.0.1:${await freePort()}`;
  const metricsAddr = `127.0.0.1:${await freePort()}`;
  const nodeArgs = [...coordinatorNodeFlags(), ...(s.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${s.profileDir}`] : [])];
  const child = spawnChild('coordinator', [...nodeArgs, COORDINATOR_MAIN], coordinatorEnv(addr, metricsAddr, s));
  const probe = makeCoordinatorClient(addr);
  try {
    await waitForCoordinator(probe, child);
  } catch (err) {
    await stopChild(child);
    throw err;
  } finally {
    probe.close();
  }
  return { child, addr, metricsAddr, pid: child.proc.pid };
}

/**
 * A client on its own HTTP/2 connection (a local subchannel pool): the load
 * generator opens one per 64 workers, so high concurrency is not throttled by
 * one connection's stream limit (TCC_GRPC_MAX_CONCURRENT_STREAMS, default 100).
 */
export function makeCoordinatorClient(address: string): CoordinatorClient {
  const { grpcObject } = loadTccProto();
  return new grpcObject.tcc.v1.Coordinator(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
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
