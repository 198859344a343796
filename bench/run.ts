/**
 * Benchmark of the TCC coordinator against a baseline without coordinator,
 * in one bounded, loopback-only run.
 *
 *   npm run bench                        # the "standard" preset (~10 min)
 *   node dist/bench/run.js --help        # flags, presets
 *
 * Per scenario it starts, as separate processes, a participant
 * (bench/participant-server.js, answers OK at once) and a coordinator
 * (dist/src/main.js) on a fresh database (SQLite temp file, or a new MySQL
 * database tcc_bench_<timestamp> dropped afterwards), and drives it from this
 * process with closed-loop workers (bench/load.ts). Baselines (the same load
 * generator calling the participant's Try and Confirm itself) are interleaved
 * with the coordinator scenarios of the same concurrency and branch count
 * (bench/scenario-matrix.ts). Extra scenarios: --backlog (bench/backlog.ts),
 * --soak (bench/soak.ts).
 *
 * The result is one markdown section (bench/report.ts), printed; appended to
 * bench/RESULTS.md only with --write (it is tracked: a casual run must not
 * change the tree), or to FILE with --results.
 *
 * The bench is bounded: a watchdog kills everything and exits 1 when the run
 * takes far longer than planned; children are always killed in `finally`.
 * Exit 1 as well when a scenario fails or its error rate is above --max-error-rate.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runBacklog, type BacklogResult } from './backlog';
import { MysqlCounters } from './db-counters';
import { parseArgs, type Options } from './options';
import { COORDINATOR_MAIN, PARTICIPANT_MAIN, abortAll, log } from './processes';
import { RESULTS_HEADER } from './results-header';
import { fmt, loadAvg, machineInfo, section } from './report';
import { runBaseline, runCoordinatorScenario, type ScenarioResult } from './scenario';
import { describeScenario, estimateBacklogSeconds, estimateScenarioSeconds, estimateSoakSeconds, planMatrix, type MatrixScenario } from './scenario-matrix';
import { runSoak, type SoakResult } from './soak';

/** Extra time a step may take beyond its estimate before the watchdog calls it a hang (plus 50 % of the whole estimate, and 5 min). */
const WATCHDOG_SLACK_SECONDS = 15;

function minutes(s: number): string {
  return s < 120 ? `${Math.round(s)} s` : `${(s / 60).toFixed(1)} min`;
}

/** Ratio of each coordinator scenario to the mean of the nearest baselines of its group, before and after it. */
function setRatios(plan: MatrixScenario[], results: (ScenarioResult | undefined)[]): void {
  plan.forEach((s, i) => {
    const r = results[i];
    if (s.kind !== 'coordinator' || !r) return;
    const same = (j: number) => {
      const b = plan[j];
      return b.kind === 'baseline' && b.concurrency === s.concurrency && b.branches === s.branches && results[j] !== undefined;
    };
    let before = i - 1;
    while (before >= 0 && !same(before)) before--;
    let after = i + 1;
    while (after < plan.length && !same(after)) after++;
    const rates = [before, after].filter((j) => j >= 0 && j < plan.length).map((j) => results[j]?.txPerSec ?? NaN);
    const base = rates.reduce((a, b) => a + b, 0) / rates.length;
    if (rates.length && base > 0) r.ratio = r.txPerSec / base;
  });
}

async function mysqlSettings(o: Options): Promise<string | undefined> {
  if (!o.dbs.includes('mysql')) return undefined;
  let c: MysqlCounters | undefined;
  try {
    c = await MysqlCounters.open(o.mysqlUrl);
    return await c.serverSettings();
  } catch (err) {
    return `settings unreadable (${(err as Error).message})`;
  } finally {
    await c?.close();
  }
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  for (const f of [COORDINATOR_MAIN, PARTICIPANT_MAIN]) {
    if (!fs.existsSync(f)) throw new Error(`${f} not found: build first (npx tsc -b)`);
  }
  if (o.profileDir) fs.mkdirSync(o.profileDir, { recursive: true });
  const plan = planMatrix(o);
  const matrixSeconds = plan.reduce((a, s) => a + estimateScenarioSeconds(o, s), 0);
  const backlogSeconds = estimateBacklogSeconds(o);
  const soakSeconds = estimateSoakSeconds(o);
  const total = matrixSeconds + backlogSeconds + soakSeconds;
  const coordinatorCount = plan.filter((s) => s.kind === 'coordinator').length;

  // Watchdog: the estimate plus generous slack per step (and the drain limits); anything far beyond is a hang.
  const steps = plan.length + (o.backlog !== undefined ? 1 : 0) + (o.soakMinutes !== undefined ? 1 : 0);
  const budgetSeconds =
    total * 1.5 + 300 + steps * WATCHDOG_SLACK_SECONDS + (o.backlog !== undefined ? o.backlogBuildSeconds + o.backlogDrainSeconds : 0);
  const watchdog = setTimeout(() => {
    log(`watchdog: run exceeded ${Math.round(budgetSeconds)} s, killing children`);
    void abortAll().finally(() => process.exit(1));
  }, budgetSeconds * 1_000);
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping`);
    void abortAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const loadBefore = loadAvg();
  log(`machine: ${machineInfo()}; load average ${loadBefore}`);
  log(
    `plan (preset ${o.preset}): ${coordinatorCount} coordinator scenarios + ${plan.length - coordinatorCount} baselines, ` +
      `${o.warmupSeconds} s warm-up + ${o.seconds} s each (~${minutes(matrixSeconds)})` +
      (o.backlog !== undefined ? `; backlog ${o.backlog} (~${minutes(backlogSeconds)}, at most ${minutes(o.backlogBuildSeconds + o.backlogDrainSeconds + 2 * (o.warmupSeconds + o.seconds) + 30)})` : '') +
      (o.soakMinutes !== undefined ? `; soak ${o.soakMinutes} min` : '') +
      `; estimated total ${minutes(total)} (watchdog at ${minutes(budgetSeconds)})`,
  );

  if (o.planOnly) {
    clearTimeout(watchdog);
    plan.forEach((s, i) => process.stdout.write(`${i + 1}. ${describeScenario(s)} (~${Math.round(estimateScenarioSeconds(o, s))} s)\n`));
    if (o.backlog !== undefined) process.stdout.write(`backlog ${o.backlog} (~${minutes(backlogSeconds)})\n`);
    if (o.soakMinutes !== undefined) process.stdout.write(`soak ${o.soakMinutes} min\n`);
    return 0;
  }

  const results: (ScenarioResult | undefined)[] = [];
  const failures: string[] = [];
  for (const [i, s] of plan.entries()) {
    const name = describeScenario(s);
    log(`[${i + 1}/${plan.length}] ${name}`);
    try {
      const r = s.kind === 'baseline' ? await runBaseline(o, s) : await runCoordinatorScenario(o, s);
      results.push(r);
      log(`[${i + 1}/${plan.length}] ${name}: ${fmt(r.txPerSec, 0)} tx/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, errors ${JSON.stringify(r.load.errors)}`);
      if (r.load.committed === 0) failures.push(`${name}: no transaction committed`);
      for (const n of r.notes) if (/error rate|still not finished/.test(n)) failures.push(`${name}: ${n}`);
      if ((r.load.committed === 0 || Object.keys(r.load.errors).length) && r.coordinatorTail?.length) {
        log(`coordinator output (last lines):\n${r.coordinatorTail.slice(-10).join('\n')}`);
      }
    } catch (err) {
      results.push(undefined);
      failures.push(`${name}: ${(err as Error).message}`);
      log(`${name} FAILED: ${(err as Error).stack ?? String(err)}`);
    }
  }
  setRatios(plan, results);

  let backlog: BacklogResult | undefined;
  if (o.backlog !== undefined) {
    try {
      backlog = await runBacklog(o);
      log(`backlog: ${backlog.built} built, drained ${backlog.drained} in ${fmt(backlog.drainSeconds ?? backlog.watchedSeconds)} s`);
    } catch (err) {
      failures.push(`backlog: ${(err as Error).message}`);
      log(`backlog FAILED: ${(err as Error).stack ?? String(err)}`);
    }
  }
  let soak: SoakResult | undefined;
  if (o.soakMinutes !== undefined) {
    try {
      soak = await runSoak(o);
      log(`soak: ${soak.committed} committed, RSS ${fmt(soak.rss.first, 0)} -> ${fmt(soak.rss.last, 0)} MB`);
      for (const n of soak.notes) if (/error rate/.test(n)) failures.push(`soak: ${n}`);
    } catch (err) {
      failures.push(`soak: ${(err as Error).message}`);
      log(`soak FAILED: ${(err as Error).stack ?? String(err)}`);
    }
  }

  const done = results.filter((r): r is ScenarioResult => r !== undefined);
  if (done.length || backlog || soak) {
    const md = section({ o, results: done, backlog, soak, loadBefore, mysqlSettings: await mysqlSettings(o) });
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
