#!/usr/bin/env node
/**
 * `npm run chaos`: runs seeded transactions against 2-3 coordinator replicas
 * while injecting faults (process kills, a replica paused past its claim
 * lease, database stalls and crashes, killed connections, Redis restarts),
 * then waits for every transaction to finish and checks the invariants (see
 * invariant-checker.ts). Everything it starts is its own, on loopback, and
 * is removed on exit. The last line is the verdict:
 * `CHAOS: <n> transactions, <n> faults (<kind>=<n>, ...), <n> violations, quiescent in <s> s`.
 * Exit 0 only with 0 violations.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mysql from 'mysql2/promise';
import { ChaosArgsError, CHAOS_USAGE, parseChaosArgs, type ChaosArgs } from './chaos-args';
import { Cleanup } from './cleanup';
import { ACCOUNT_START_BALANCE, ACCOUNTS, Cluster, SKU_START_STOCK, SKUS } from './cluster';
import { FAULT_POOL_UNITS } from './fault-participant';
import { FaultInjector } from './fault-injector';
import { checkInvariants } from './invariant-checker';
import { privateMariadbTools } from './private-mariadb';
import { redisServerPath } from './private-redis';
import { SeededRandom } from './seeded-random';
import { takeSnapshot } from './snapshot';
import { Workload } from './workload';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const started = Date.now();
const log = (line: string) => console.log(`[chaos ${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);

/** Transactions not yet CONFIRMED or CANCELLED, read from the coordinators' table. */
async function unfinished(cluster: Cluster): Promise<number> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: cluster.mariadb.port, user: 'root', connectTimeout: 5_000 });
  try {
    const [rows] = await conn.query("SELECT COUNT(*) AS n FROM tcc.tcc_transactions WHERE status NOT IN ('CONFIRMED', 'CANCELLED')");
    return Number((rows as { n: number }[])[0].n);
  } finally {
    await conn.end().catch(() => undefined);
  }
}

async function run(args: ChaosArgs, cleanup: Cleanup): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-chaos-'));
  cleanup.trackDir(dir);
  log(`seed ${args.seed}, ${args.replicas} replicas, ${args.workers} workers, ${args.durationMs / 1000} s of faults` +
    `${args.transport ? `, transport ${args.transport}` : ''} (replay: --seed ${args.seed})`);
  const cluster = await Cluster.start({ replicas: args.replicas, transport: args.transport, dir, cleanup });
  log(`up: mariadb :${cluster.mariadb.port}, redis :${cluster.redis.port}, coordinators ${cluster.coordinatorAddresses.join(' ')}`);

  const rng = new SeededRandom(args.seed);
  const injector = new FaultInjector(cluster, rng.fork(), log);
  const workerRngs = Array.from({ length: args.workers }, () => rng.fork());
  const workload = new Workload(cluster, args.seed);
  let crashes = 0;
  const watchdog = setInterval(() => {
    for (const p of cluster.processes) {
      p.restartIfCrashed().then(
        (restarted) => {
          if (restarted) {
            crashes++;
            log(`${p.name} exited on its own: restarted`);
          }
        },
        (err: unknown) => log(`${p.name} could not be restarted: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
  }, 2_000);
  const progress = setInterval(() => {
    log(`${workload.records.length} transactions (committed ${workload.count('committed')}, rolled back ${workload.count('rolled-back')}, ` +
      `unknown ${workload.count('unknown')}), ${injector.total} faults`);
  }, 5_000);

  const until = Date.now() + args.durationMs;
  // Transactions run as long as faults are injected (the first round of faults may outlast `until`).
  let injecting = true;
  const injection = injector.run(until).finally(() => {
    injecting = false;
  });
  await Promise.all([injection, workload.run(args.workers, workerRngs, () => injecting, args.maxTransactions)]);
  clearInterval(progress);
  clearInterval(watchdog);
  workload.close();
  log(`faults stopped; ${workload.records.length} transactions answered; restarting anything down`);
  await cluster.restartDown();

  const quiesceStart = Date.now();
  let left = -1;
  while (Date.now() - quiesceStart < args.quiescenceTimeoutMs) {
    try {
      left = await unfinished(cluster);
      if (left === 0) break;
    } catch (err) {
      log(`quiescence check failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    await sleep(500);
  }
  const quiescentS = ((Date.now() - quiesceStart) / 1000).toFixed(1);
  log(left === 0 ? `quiescent after ${quiescentS} s` : `NOT quiescent after ${quiescentS} s: ${left} transactions unfinished`);

  const snapshot = await takeSnapshot(cluster);
  const violations = checkInvariants(snapshot, workload.records, {
    accountTarget: cluster.accountTarget,
    inventoryTarget: cluster.inventoryTarget,
    faultTarget: cluster.faultTarget,
    accountStart: new Map(ACCOUNTS.map((a) => [a, ACCOUNT_START_BALANCE])),
    skuStart: new Map(SKUS.map((s) => [s, SKU_START_STOCK])),
    poolUnits: FAULT_POOL_UNITS,
  });
  if (left !== 0) violations.unshift(`not quiescent within ${args.quiescenceTimeoutMs / 1000} s: ${left} transactions unfinished`);

  const statuses = new Map<string, number>();
  for (const t of snapshot.transactions) statuses.set(t.status, (statuses.get(t.status) ?? 0) + 1);
  log(`coordinator: ${[...statuses].map(([k, n]) => `${k}=${n}`).join(' ')}; ${snapshot.logs.length} log rows; ` +
    `fault participant effects ${snapshot.faultEffects.length}; processes that exited on their own: ${crashes}`);
  for (const e of injector.errors) log(`fault not carried out: ${e}`);
  for (const v of violations) console.log(`VIOLATION: ${v}`);
  const kinds = [...injector.counts].map(([k, n]) => `${k}=${n}`).join(', ');
  console.log(
    `CHAOS: ${workload.records.length} transactions, ${injector.total} faults (${kinds}), ${violations.length} violations, quiescent in ${quiescentS} s`,
  );
  return violations.length === 0 ? 0 : 1;
}

function main(): void {
  let args: ChaosArgs;
  try {
    args = parseChaosArgs(process.argv.slice(2), () => crypto.randomInt(0, 2 ** 31));
  } catch (err) {
    if (!(err instanceof ChaosArgsError)) throw err;
    console.error(`chaos: ${err.message}\n\n${CHAOS_USAGE}`);
    process.exit(2);
  }
  if (args.help) {
    console.log(CHAOS_USAGE);
    return;
  }
  const missing = [privateMariadbTools() ? '' : 'mariadb-install-db/mariadbd (Debian package mariadb-server)', redisServerPath() ? '' : 'redis-server (Debian package redis-server)'].filter(Boolean);
  if (missing.length > 0) {
    console.error(`chaos: CANNOT RUN, missing: ${missing.join('; ')}. The chaos suite starts its own database and Redis.`);
    process.exit(1);
  }
  const cleanup = new Cleanup();
  process.on('exit', () => cleanup.runSync());
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      console.error(`chaos: ${signal}: stopping every process it started`);
      cleanup.runSync();
      process.exit(code);
    });
  }
  run(args, cleanup).then(
    (code) => {
      cleanup.runSync();
      process.exit(code);
    },
    (err: unknown) => {
      console.error(`chaos: run failed: ${err instanceof Error ? err.message : String(err)}`);
      console.log('CHAOS: run failed before the checks, 1 violations');
      cleanup.runSync();
      process.exit(1);
    },
  );
}

main();
