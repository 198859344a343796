/**
 * The backlog scenario (--backlog N): how fast a coordinator works off N
 * decided transactions whose Confirm could not run, and what that does to
 * new traffic meanwhile.
 *
 * 1. reference: new Execute traffic at concurrency 64 (--backlog-traffic)
 *    alone, for --seconds; again after step 3, and the two are averaged (the
 *    first runs on a cold process, the second on a store grown by N rows);
 * 2. build: the participant stops answering Confirm (it holds the calls:
 *    mode `hang`); Execute wait=false at concurrency 64 with gids `bl-…`
 *    until N are decided (or --backlog-build-seconds ran out: then the
 *    smaller backlog is measured, and the report says so). The first
 *    Confirms fill the coordinator's per-target slots and hang; every later
 *    phase two finds no free slot and is deferred (due again within 5 s), and
 *    recovery leaves transactions on a full target unclaimed. So the build
 *    costs one Execute and one deferral each, not a retry every few seconds
 *    per backlogged transaction (a participant answering UNAVAILABLE made the
 *    build collapse to a few tx/s after ~3000: the retries took the coordinator);
 * 3. drain: the participant answers the held Confirms and every later one OK;
 *    new traffic as in 1 runs while the store is polled every second (count
 *    of `bl-…` transactions CONFIRMED, via SQL) until none is open, or
 *    --backlog-drain-seconds ran out.
 *
 * The coordinator runs with TCC_RETRY_INITIAL_MS=1000 and TCC_RETRY_MAX_MS=5000
 * so no backlogged transaction is further than 5 s from its next retry when
 * the participant comes back (the default cap, 5 min, would measure the
 * backoff, not the drain), and with stuck flagging pushed out of the way.
 * TCC_SWEEP_INTERVAL_MS is --backlog-sweep-ms, the coordinator's default
 * (1000) unless given, and TCC_RECOVERY_CONCURRENCY_PER_TARGET is
 * --backlog-slots (default 256, the coordinator's). Recovery claims at most
 * (free per-target slots / branches on the target) transactions per sweep, a
 * slot held from the claim to its call's answer, and a sweep runs again as
 * soon as slots free (they wake it), so the drain follows those slots' pace
 * (claim, call), not the interval.
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { createDb, type BenchDb, type DbKind } from './bench-db';
import { CoordinatorClients, branchSpecs, coordinatorTxn, runClosedLoop, type LoadResult } from './load';
import type { Options } from './options';
import { RssSampler, log, procCpuSeconds, sleep, startCoordinator, startParticipant, stopChild, stopParticipant, type Coordinator, type Participant, type Transport } from './processes';
import { percentile } from './scenario';

const BUILD_CONCURRENCY = 64;
const PREFIX = 'bl-';
/** The held Confirms must not time out during the build: the longest branch deadline the coordinator accepts. */
const BRANCH_TIMEOUT_MS = 600_000;
/** Build time left before a held Confirm could reach that deadline. */
export const MAX_BUILD_SECONDS = BRANCH_TIMEOUT_MS / 1_000 - 60;

export const BACKLOG_RETRY_ENV = {
  TCC_BRANCH_TIMEOUT_MS: String(BRANCH_TIMEOUT_MS),
  TCC_RETRY_INITIAL_MS: '1000',
  TCC_RETRY_MAX_MS: '5000',
  TCC_STUCK_AFTER_ATTEMPTS: '1000000',
  TCC_STUCK_AFTER_MS: '0',
};

export interface TrafficStats {
  txPerSec: number;
  p50: number;
  p99: number;
  errors: Record<string, number>;
}

export interface BacklogResult {
  db: DbKind;
  transport: Transport;
  wait: boolean;
  requested: number;
  built: number;
  buildSeconds: number;
  buildErrors: Record<string, number>;
  /** Backlog transactions CONFIRMED when the drain was last polled. */
  drained: number;
  /** Seconds from Confirm working again until none of the backlog was open (undefined: not within the limit). */
  drainSeconds?: number;
  /** Seconds until the first backlogged transaction was seen CONFIRMED (mostly the retry backoff). */
  firstConfirmSeconds?: number;
  watchedSeconds: number;
  /** Confirmed backlog per second of the drain, by 10 s slice. */
  drainRateBySlice: number[];
  trafficConcurrency: number;
  sweepMs: number;
  /** Per-target Confirm slots of the coordinator. */
  slots: number;
  /** New traffic alone, before the build and after the drain (undefined without traffic). */
  referenceBefore?: TrafficStats;
  referenceAfter?: TrafficStats;
  duringDrain?: TrafficStats;
  coordCpuPctDuringDrain?: number;
  rssMaxMb?: number;
  notes: string[];
}

function traffic(load: LoadResult): TrafficStats {
  return {
    txPerSec: load.windowSeconds > 0 ? load.committed / load.windowSeconds : NaN,
    p50: percentile(load.latenciesMs, 50),
    p99: percentile(load.latenciesMs, 99),
    errors: load.errors,
  };
}

export async function runBacklog(o: Options): Promise<BacklogResult> {
  const N = o.backlog ?? 0;
  const kind = o.dbs[0];
  const transport = o.transports[0];
  const wait = o.waits[0];
  let db: BenchDb | undefined;
  let participant: Participant | undefined;
  let coordinator: Coordinator | undefined;
  let clients: CoordinatorClients | undefined;
  let rss: RssSampler | undefined;
  const notes: string[] = [];
  try {
    db = await createDb(kind, o.mysqlUrl);
    participant = await startParticipant();
    coordinator = await startCoordinator({ dbUrl: db.url, transport, redisUrl: o.redisUrl, profileDir: o.profileDir, extraEnv: { ...BACKLOG_RETRY_ENV, TCC_SWEEP_INTERVAL_MS: String(o.backlogSweepMs), TCC_RECOVERY_CONCURRENCY_PER_TARGET: String(o.backlogSlots) } });
    rss = new RssSampler(coordinator.pid, 1_000);
    const trafficConcurrency = o.backlogTraffic;
    clients = new CoordinatorClients(coordinator.addr, Math.max(trafficConcurrency, BUILD_CONCURRENCY));
    const branches = branchSpecs(participant.addr, 2);
    const trafficTxn = coordinatorTxn(clients, { flow: 'execute', branches, wait });

    const reference = async (when: string) => {
      if (trafficConcurrency === 0) return undefined;
      log(`backlog: traffic alone ${when} (${kind}/${transport}, concurrency ${trafficConcurrency}) for ${o.seconds} s`);
      return traffic(await runClosedLoop({ concurrency: trafficConcurrency, warmupSeconds: o.warmupSeconds, seconds: o.seconds }, trafficTxn));
    };
    const referenceBefore = await reference('before the build');

    const buildCap = Math.min(o.backlogBuildSeconds, MAX_BUILD_SECONDS);
    log(`backlog: building ${N} decided transactions while the participant holds every Confirm (at most ${buildCap} s)`);
    participant.setConfirm('hang');
    await sleep(200);
    const buildStart = performance.now();
    let decided = 0;
    const buildTxn = coordinatorTxn(clients, { flow: 'execute', branches, wait: false, gidPrefix: PREFIX });
    const progress = setInterval(() => log(`backlog: ${decided} decided so far`), 10_000);
    const build = await runClosedLoop(
      { concurrency: BUILD_CONCURRENCY, warmupSeconds: 0, seconds: buildCap, maxTransactions: N },
      async (w, seq) => {
        const out = await buildTxn(w, seq);
        if (out.code === grpc.status.OK) decided++;
        return out;
      },
    );
    clearInterval(progress);
    const buildSeconds = (performance.now() - buildStart) / 1_000;
    const before = await db.statusCountsWithPrefix(PREFIX);
    const built = before.CONFIRMING ?? 0;
    if (built < N) notes.push(`only ${built} of ${N} decided transactions built in ${buildSeconds.toFixed(0)} s (build limit ${buildCap} s); the drain is measured on those`);
    if (before.CONFIRMED) notes.push(`${before.CONFIRMED} backlog transactions were CONFIRMED during the build (Confirm should have been held)`);
    log(`backlog: ${built} CONFIRMING in ${buildSeconds.toFixed(1)} s (${(built / buildSeconds).toFixed(0)} tx/s); Confirm works again, traffic starts`);

    participant.setConfirm('ok');
    const t0 = performance.now();
    const cpu0 = procCpuSeconds(coordinator.pid);
    let drained = 0;
    let open = built;
    let firstConfirmSeconds: number | undefined;
    let drainSeconds: number | undefined;
    const samples: { t: number; confirmed: number }[] = [{ t: 0, confirmed: 0 }];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await sleep(1_000);
        const c = await db.statusCountsWithPrefix(PREFIX);
        const t = (performance.now() - t0) / 1_000;
        drained = c.CONFIRMED ?? 0;
        open = (c.CONFIRMING ?? 0) + (c.TRYING ?? 0) + (c.CANCELLING ?? 0);
        samples.push({ t, confirmed: drained });
        if (samples.length % 10 === 0) log(`backlog: ${drained} of ${built} confirmed after ${t.toFixed(0)} s`);
        if (drained > 0 && firstConfirmSeconds === undefined) firstConfirmSeconds = t;
        if (open === 0) {
          drainSeconds = t;
          return;
        }
        if (t > o.backlogDrainSeconds) return;
      }
    })();
    const during =
      trafficConcurrency === 0
        ? undefined
        : await runClosedLoop(
            {
              concurrency: trafficConcurrency,
              warmupSeconds: 0,
              seconds: o.backlogDrainSeconds + 5,
              stopWhen: () => drainSeconds !== undefined || (performance.now() - t0) / 1_000 > o.backlogDrainSeconds,
            },
            trafficTxn,
          );
    if (during) polling = false;
    await poller;
    const watchedSeconds = (performance.now() - t0) / 1_000;
    const cpu1 = procCpuSeconds(coordinator.pid);
    const referenceAfter = await reference('after the drain');
    if (drainSeconds === undefined) notes.push(`${open} of ${built} still open after ${o.backlogDrainSeconds} s (--backlog-drain-seconds)`);
    const slices: number[] = [];
    for (let edge = 10; edge - 10 < samples[samples.length - 1].t; edge += 10) {
      const at = (t: number) => samples.filter((s) => s.t <= t).pop() ?? samples[0];
      const a = at(edge - 10);
      const b = at(edge);
      if (b.t > a.t) slices.push((b.confirmed - a.confirmed) / (b.t - a.t));
    }
    rss.stop();
    const result: BacklogResult = {
      db: kind,
      transport,
      wait,
      requested: N,
      built,
      buildSeconds,
      buildErrors: build.errors,
      drained,
      drainSeconds,
      firstConfirmSeconds,
      watchedSeconds,
      drainRateBySlice: slices,
      trafficConcurrency,
      sweepMs: o.backlogSweepMs,
      slots: o.backlogSlots,
      referenceBefore,
      referenceAfter,
      duringDrain: during && traffic(during),
      coordCpuPctDuringDrain: cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / watchedSeconds) * 100 : undefined,
      rssMaxMb: rss.max,
      notes,
    };
    clients.close();
    clients = undefined;
    return result;
  } finally {
    rss?.stop();
    clients?.close();
    await stopChild(coordinator?.child).catch(() => undefined);
    await stopParticipant(participant).catch(() => undefined);
    await db?.cleanup().catch((err: Error) => log(`cleanup of ${db?.label} failed: ${err.message}`));
  }
}
