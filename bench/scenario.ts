/**
 * One measured scenario: a baseline (load generator -> participant), or a
 * coordinator scenario (fresh database, fresh participant and coordinator
 * processes, closed-loop load, then the store read back). Children and the
 * database are always cleaned up in `finally`.
 */
import { performance } from 'node:perf_hooks';
import { createDb, type BenchDb } from './bench-db';
import { MysqlCounters, scrapeStoreCounters, type MysqlWindow, type StoreCounters } from './db-counters';
import { CoordinatorClients, ParticipantClients, baselineTxn, branchSpecs, coordinatorTxn, runClosedLoop, type LoadResult } from './load';
import type { Options } from './options';
import {
  RssSampler,
  log,
  procCpuSeconds,
  sleep,
  startCoordinator,
  startParticipant,
  stopChild,
  stopParticipant,
  type Coordinator,
  type Participant,
} from './processes';
import type { BaselineScenario, CoordinatorScenario, MatrixScenario } from './scenario-matrix';

export interface ScenarioResult {
  scenario: MatrixScenario;
  load: LoadResult;
  txPerSec: number;
  p50: number;
  p99: number;
  mean: number;
  /** Coordinator CPU (user+system) per committed transaction, µs. */
  coordCpuUsPerTx?: number;
  /** Coordinator CPU over the window, % of one core. */
  coordCpuPct?: number;
  /** Server-wide MariaDB counters over the window. */
  mysql?: MysqlWindow;
  /** Group-commit batches (local DB transactions) of the coordinator over the window. */
  storeBatches?: number;
  /** Statements the coordinator's store batches sent over the window (its own count, either database). */
  storeStatements?: number;
  /** Queries (MySQL: round trips) those batches sent over the window. */
  storeQueries?: number;
  /** SQLite: the store's fdatasyncs of the WAL over the window. */
  walSyncs?: number;
  rssMaxMb?: number;
  /** coordinator tx/s / mean of the neighbouring baselines; set by the caller. */
  ratio?: number;
  backlogAtEnd?: number;
  drainSeconds?: number;
  finalStatuses?: Record<string, number>;
  participantCalls?: Record<string, number>;
  coordinatorLogLevels?: Record<string, number>;
  coordinatorTail?: string[];
  notes: string[];
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

function summarize(scenario: MatrixScenario, load: LoadResult, o: Options, notes: string[]): ScenarioResult {
  const l = load.latenciesMs;
  const errorCount = Object.values(load.errors).reduce((a, b) => a + b, 0);
  if (load.completed > 0 && errorCount / load.completed > o.maxErrorRate) {
    notes.push(`error rate ${((errorCount / load.completed) * 100).toFixed(2)}% above --max-error-rate ${o.maxErrorRate * 100}%`);
  }
  return {
    scenario,
    load,
    txPerSec: load.committed / load.windowSeconds,
    p50: percentile(l, 50),
    p99: percentile(l, 99),
    mean: l.length ? l.reduce((a, b) => a + b, 0) / l.length : NaN,
    notes,
  };
}

export async function runBaseline(o: Options, s: BaselineScenario): Promise<ScenarioResult> {
  let participant: Participant | undefined;
  let clients: ParticipantClients | undefined;
  try {
    participant = await startParticipant();
    clients = new ParticipantClients(participant.addr, s.concurrency);
    const load = await runClosedLoop(
      { concurrency: s.concurrency, warmupSeconds: o.warmupSeconds, seconds: o.seconds },
      baselineTxn(clients, branchSpecs(participant.addr, s.branches)),
    );
    clients.close();
    clients = undefined;
    const r = summarize(s, load, o, []);
    r.participantCalls = await stopParticipant(participant);
    return r;
  } finally {
    clients?.close();
    await stopParticipant(participant).catch(() => undefined);
  }
}

/** Transactions not finished yet (phase two still running). */
const openCount = (s: Record<string, number>) => (s.CONFIRMING ?? 0) + (s.TRYING ?? 0) + (s.CANCELLING ?? 0);

export async function runCoordinatorScenario(o: Options, s: CoordinatorScenario): Promise<ScenarioResult> {
  let db: BenchDb | undefined;
  let participant: Participant | undefined;
  let coordinator: Coordinator | undefined;
  let clients: CoordinatorClients | undefined;
  let rss: RssSampler | undefined;
  let counters: MysqlCounters | undefined;
  const notes: string[] = [];
  try {
    db = await createDb(s.db, o.mysqlUrl);
    participant = await startParticipant();
    coordinator = await startCoordinator({ dbUrl: db.url, transport: s.transport, redisUrl: o.redisUrl, profileDir: o.profileDir });
    counters = s.db === 'mysql' ? await MysqlCounters.open(o.mysqlUrl) : undefined;
    clients = new CoordinatorClients(coordinator.addr, s.concurrency);
    rss = new RssSampler(coordinator.pid, 250);
    const pid = coordinator.pid;
    const metricsAddr = coordinator.metricsAddr;

    // Window start: /metrics first, then the server-wide status, so the scrape's own
    // queries fall outside the MariaDB window; at the end the other way round.
    let windowStart: Promise<{ cpu?: number; t: number; store: StoreCounters; status?: Map<string, number> }> | undefined;
    const onWindowStart = () => {
      const cpu = procCpuSeconds(pid);
      const t = performance.now();
      windowStart = (async () => {
        const store = await scrapeStoreCounters(metricsAddr);
        const status = await counters?.snapshot();
        return { cpu, t, store, status };
      })();
    };
    const windowEnd = sleep((o.warmupSeconds + o.seconds) * 1_000).then(async () => {
      const cpu = procCpuSeconds(pid);
      const t = performance.now();
      const status = await counters?.snapshot();
      const store = await scrapeStoreCounters(metricsAddr);
      return { cpu, t, store, status };
    });
    const load = await runClosedLoop(
      { concurrency: s.concurrency, warmupSeconds: o.warmupSeconds, seconds: o.seconds, onWindowStart },
      coordinatorTxn(clients, { flow: s.flow, branches: branchSpecs(participant.addr, s.branches), wait: s.wait }),
    );
    const end = await windowEnd;
    const start = await windowStart;
    rss.stop();
    const r = summarize(s, load, o, notes);
    r.rssMaxMb = rss.max;
    if (start?.cpu !== undefined && end.cpu !== undefined) {
      const cpuSeconds = end.cpu - start.cpu;
      r.coordCpuPct = (cpuSeconds / ((end.t - start.t) / 1_000)) * 100;
      if (load.committed > 0) r.coordCpuUsPerTx = (cpuSeconds * 1e6) / load.committed;
    }
    if (start?.status && end.status) r.mysql = MysqlCounters.diff(start.status, end.status);
    if (start?.store.batches !== undefined && end.store.batches !== undefined) r.storeBatches = end.store.batches - start.store.batches;
    if (start?.store.statements !== undefined && end.store.statements !== undefined) r.storeStatements = end.store.statements - start.store.statements;
    if (start?.store.queries !== undefined && end.store.queries !== undefined) r.storeQueries = end.store.queries - start.store.queries;
    if (start?.store.walSyncs !== undefined && end.store.walSyncs !== undefined) r.walSyncs = end.store.walSyncs - start.store.walSyncs;

    // With wait=false Confirm runs after the answer: wait (bounded) until the store shows nothing open.
    try {
      const t0 = performance.now();
      let statuses = await db.statusCounts();
      r.backlogAtEnd = openCount(statuses);
      while (openCount(statuses) > 0 && performance.now() - t0 < o.drainSeconds * 1_000) {
        await sleep(50);
        statuses = await db.statusCounts();
      }
      if (openCount(statuses) === 0) r.drainSeconds = (performance.now() - t0) / 1_000;
      else notes.push(`${openCount(statuses)} transactions still not finished ${o.drainSeconds} s after the load stopped`);
      r.finalStatuses = statuses;
    } catch (err) {
      notes.push(`reading transaction statuses failed: ${(err as Error).message}`);
    }
    clients.close();
    clients = undefined;
    await stopChild(coordinator.child);
    r.coordinatorLogLevels = { ...coordinator.child.levels };
    r.coordinatorTail = [...coordinator.child.tail];
    r.participantCalls = await stopParticipant(participant);
    return r;
  } finally {
    rss?.stop();
    clients?.close();
    await counters?.close();
    await stopChild(coordinator?.child).catch(() => undefined);
    await stopParticipant(participant).catch(() => undefined);
    await db?.cleanup().catch((err: Error) => log(`cleanup of ${db?.label} failed: ${err.message}`));
  }
}
