/**
 * The soak scenario (--soak MINUTES): Execute at concurrency 256 for that
 * long on one coordinator, sampling its RSS every 10 s, to see memory that
 * only grows and throughput that sags over minutes (neither shows in a
 * 10-second window).
 */
import { createDb, type BenchDb, type DbKind } from './bench-db';
import { CoordinatorClients, branchSpecs, coordinatorTxn, runClosedLoop } from './load';
import type { Options } from './options';
import { RssSampler, log, startCoordinator, startParticipant, stopChild, stopParticipant, type Coordinator, type Participant, type Transport } from './processes';
import { percentile } from './scenario';

const SOAK_CONCURRENCY = 256;
const RSS_EVERY_MS = 10_000;
const MINUTE_MS = 60_000;

export interface SoakResult {
  db: DbKind;
  transport: Transport;
  wait: boolean;
  minutes: number;
  concurrency: number;
  committed: number;
  errors: Record<string, number>;
  p50: number;
  p99: number;
  /** tx/s per minute of the run (the last one may be partial). */
  txPerSecByMinute: number[];
  rss: { first: number; min: number; max: number; last: number; samples: number };
  /** RSS at the end of each minute, MiB. */
  rssByMinute: number[];
  notes: string[];
}

export async function runSoak(o: Options): Promise<SoakResult> {
  const minutes = o.soakMinutes ?? 0;
  const kind = o.dbs[0];
  const transport = o.transports[0];
  const wait = o.waits[0];
  let db: BenchDb | undefined;
  let participant: Participant | undefined;
  let coordinator: Coordinator | undefined;
  let clients: CoordinatorClients | undefined;
  let rss: RssSampler | undefined;
  try {
    db = await createDb(kind, o.mysqlUrl);
    participant = await startParticipant();
    coordinator = await startCoordinator({ dbUrl: db.url, transport, redisUrl: o.redisUrl, profileDir: o.profileDir });
    clients = new CoordinatorClients(coordinator.addr, SOAK_CONCURRENCY);
    log(`soak: ${kind}/${transport}, concurrency ${SOAK_CONCURRENCY}, ${minutes} min`);
    rss = new RssSampler(coordinator.pid, RSS_EVERY_MS, true);
    const seconds = minutes * 60;
    const load = await runClosedLoop(
      { concurrency: SOAK_CONCURRENCY, warmupSeconds: 0, seconds, bucketMs: MINUTE_MS },
      coordinatorTxn(clients, { flow: 'execute', branches: branchSpecs(participant.addr, 2), wait }),
    );
    rss.stop();
    const buckets = load.buckets ?? [];
    const txPerSecByMinute = buckets.map((n, i) => n / Math.min(60, seconds - i * 60));
    const mbs = rss.samples.map((s) => s.mb);
    const rssByMinute = buckets.map((_, i) => {
      const before = rss?.samples.filter((s) => s.atMs <= (i + 1) * MINUTE_MS + 1_000) ?? [];
      return before.length ? before[before.length - 1].mb : NaN;
    });
    const notes: string[] = [];
    const errorCount = Object.values(load.errors).reduce((a, b) => a + b, 0);
    if (load.completed > 0 && errorCount / load.completed > o.maxErrorRate) {
      notes.push(`error rate ${((errorCount / load.completed) * 100).toFixed(2)}% above --max-error-rate ${o.maxErrorRate * 100}%`);
    }
    clients.close();
    clients = undefined;
    return {
      db: kind,
      transport,
      wait,
      minutes,
      concurrency: SOAK_CONCURRENCY,
      committed: load.committed,
      errors: load.errors,
      p50: percentile(load.latenciesMs, 50),
      p99: percentile(load.latenciesMs, 99),
      txPerSecByMinute,
      rss: {
        first: mbs[0] ?? NaN,
        min: mbs.length ? Math.min(...mbs) : NaN,
        max: mbs.length ? Math.max(...mbs) : NaN,
        last: mbs[mbs.length - 1] ?? NaN,
        samples: mbs.length,
      },
      rssByMinute,
      notes,
    };
  } finally {
    rss?.stop();
    clients?.close();
    await stopChild(coordinator?.child).catch(() => undefined);
    await stopParticipant(participant).catch(() => undefined);
    await db?.cleanup().catch((err: Error) => log(`cleanup of ${db?.label} failed: ${err.message}`));
  }
}
