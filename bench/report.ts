/** The run's markdown: one section (machine, load, settings, tables, legend), printed and optionally appended. */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import type { BacklogResult, TrafficStats } from './backlog';
import type { Options } from './options';
import { REPO_ROOT } from './processes';
import { percentile, type ScenarioResult } from './scenario';
import { scenarioName } from './scenario-matrix';
import type { SoakResult } from './soak';

export function fmt(n: number | undefined, digits = 1): string {
  return n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : '-';
}

export function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 5_000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 5_000 }).trim();
    return dirty ? `${sha} (uncommitted changes)` : sha;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.trim() ?? 'unknown';
  return `${cpus.length} CPU(s) (${model}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

export function loadAvg(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

const errorsText = (e: Record<string, number>) =>
  Object.entries(e)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || '0';

function perTx(total: number | undefined, r: ScenarioResult, digits = 1): string {
  return total === undefined || r.load.committed === 0 ? '-' : fmt(total / r.load.committed, digits);
}

export function matrixTable(results: ScenarioResult[]): string {
  const head =
    '| # | flow | db | transport | conc. | branches | tx/s | p50 ms | p99 ms | errors | coord. CPU µs/tx | store stmts/tx | store queries/tx | DB stmts/tx | fsyncs/tx | store batches/tx | coord. RSS max MB | ratio to baseline |';
  const sep = '|' + head.split('|').slice(1, -1).map(() => '---').join('|') + '|';
  const rows = results.map((r, i) => {
    const s = r.scenario;
    const latency = `${fmt(r.p50)} | ${fmt(r.p99)} | ${errorsText(r.load.errors)}`;
    if (s.kind === 'baseline') {
      return `| ${i + 1} | baseline | - | unary, no coordinator | ${s.concurrency} | ${s.branches} | ${fmt(r.txPerSec, 0)} | ${latency} | - | - | - | - | - | - | - | - |`;
    }
    const flow = s.wait ? s.flow : `${s.flow} wait=false`;
    const stmts = s.db === 'mysql' ? perTx(r.mysql?.statements, r) : '-';
    const fsyncs = s.db === 'mysql' ? perTx(r.mysql?.fsyncs, r) : r.walSyncs === undefined ? '-' : `~${perTx(r.walSyncs, r, 2)}`;
    return (
      `| ${i + 1} | ${flow} | ${s.db} | ${s.transport} | ${s.concurrency} | ${s.branches} | **${fmt(r.txPerSec, 0)}** | ${latency} | ` +
      `${fmt(r.coordCpuUsPerTx, 0)} | ${perTx(r.storeStatements, r)} | ${perTx(r.storeQueries, r)} | ${stmts} | ${fsyncs} | ${perTx(r.storeBatches, r, 2)} | ${fmt(r.rssMaxMb, 0)} | ${r.ratio === undefined ? '-' : fmt(r.ratio, 3)} |`
    );
  });
  return [head, sep, ...rows].join('\n');
}

/** The bench's p50 (nearest rank, as for latencies) of the finite values; NaN when there are none. */
function median(xs: number[]): number {
  return percentile(Float64Array.from(xs.filter((x) => Number.isFinite(x))).sort(), 50);
}

function spread(xs: (number | undefined)[], digits: number): string {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (!v.length) return '-';
  return `${fmt(median(v), digits)} (${fmt(Math.min(...v), digits)}–${fmt(Math.max(...v), digits)})`;
}

/**
 * Each scenario over the rounds of a --rounds run: median and range of tx/s and of the
 * ratio to the baseline, medians of the rest. Undefined when no scenario ran twice.
 */
export function roundsTable(results: ScenarioResult[]): string | undefined {
  const byName = new Map<string, ScenarioResult[]>();
  for (const r of results) {
    const name = scenarioName(r.scenario);
    const list = byName.get(name);
    if (list) list.push(r);
    else byName.set(name, [r]);
  }
  if (![...byName.values()].some((l) => l.length > 1)) return undefined;
  const head = '| flow | db | transport | conc. | branches | rounds | tx/s: median (min–max) | ratio to baseline: median (min–max) | p50 ms | p99 ms | coord. CPU µs/tx |';
  const sep = '|' + head.split('|').slice(1, -1).map(() => '---').join('|') + '|';
  const rows = [...byName.values()].map((list) => {
    const s = list[0].scenario;
    const what = s.kind === 'baseline' ? 'baseline | - | unary, no coordinator' : `${s.wait ? s.flow : `${s.flow} wait=false`} | ${s.db} | ${s.transport}`;
    const ratio = s.kind === 'baseline' ? '-' : spread(list.map((r) => r.ratio), 3);
    const cpu = s.kind === 'baseline' ? '-' : fmt(median(list.map((r) => r.coordCpuUsPerTx ?? NaN)), 0);
    return (
      `| ${what} | ${s.concurrency} | ${s.branches} | ${list.length} | **${spread(list.map((r) => r.txPerSec), 0)}** | ${ratio} | ` +
      `${fmt(median(list.map((r) => r.p50)))} | ${fmt(median(list.map((r) => r.p99)))} | ${cpu} |`
    );
  });
  return [head, sep, ...rows].join('\n');
}

function matrixLegend(results: ScenarioResult[], mysqlSettings?: string): string {
  const fsyncCounters = results.find((r) => r.mysql)?.mysql?.fsyncCounters.join(' + ') ?? 'Innodb_data_fsyncs + Innodb_os_log_fsyncs';
  return [
    'Columns:',
    '- tx/s: transactions answered OK inside the measured window, per second. Execute = one Coordinator.Execute;',
    '  interactive = Begin, one Try per branch (in parallel), Commit; baseline = the load generator calls the',
    '  participant itself: Try on every branch, then Confirm on every branch, over unary gRPC, nothing stored.',
    '- p50/p99 ms: latency of those transactions as the load generator saw it (all RPCs of one transaction).',
    '- coord. CPU µs/tx: user+system CPU of the coordinator process over the window (/proc/<pid>/stat) per committed transaction.',
    `- DB stmts/tx (mysql): Com_select + Com_insert + Com_insert_select + Com_update + Com_update_multi + Com_delete +`,
    `  Com_delete_multi + Com_replace from SHOW GLOBAL STATUS, difference over the window, per committed transaction.`,
    `  fsyncs/tx (mysql): ${fsyncCounters}, the same way. **Both are server-wide**: whatever else uses this`,
    '  MariaDB server during the window (other databases, other users) is counted too.',
    '- fsyncs/tx (sqlite, shown as ~N): the coordinator\'s fdatasyncs of the WAL (tcc_store_wal_syncs_total) — SQLite runs in WAL',
    '  mode with synchronous=NORMAL and the store syncs the WAL off the event loop, one sync serving every commit written',
    '  before it began; SQLite\'s checkpoint syncs add a few that are not counted.',
    '  SQLite has no server-side statement counter: DB stmts/tx is "-".',
    '- store stmts/tx: statements the coordinator\'s group-commit batches sent (its tcc_store_statements_total, BEGIN and',
    '  COMMIT included), per committed transaction; reads outside the batches (GetTransaction, the recovery queries) are not in it.',
    '- store queries/tx: queries those batches sent (tcc_store_queries_total), per committed transaction: on MySQL one round',
    '  trip each, a batch\'s writes whose answers it does not need riding with its next statement; on SQLite, statements.',
    '- store batches/tx: group-commit batches (one local database transaction each) from the coordinator\'s',
    '  tcc_store_batch_duration_seconds_count, scraped from its /metrics at the window\'s start and end.',
    '- coord. RSS max MB: largest VmRSS of the coordinator (/proc/<pid>/status, every 250 ms) from its start to the end of the load.',
    '- ratio to baseline: coordinator tx/s over the mean tx/s of the baseline rows of the same concurrency and branch count',
    `  run right before and right after it (at most 4 coordinator scenarios between two baselines).`,
    ...(mysqlSettings ? [`- MariaDB: ${mysqlSettings}.`] : []),
  ].join('\n');
}

function matrixDetails(results: ScenarioResult[]): string {
  const out: string[] = [];
  results.forEach((r, i) => {
    const parts: string[] = [`committed ${r.load.committed} in ${fmt(r.load.windowSeconds)} s, mean ${fmt(r.mean)} ms`];
    if (r.coordCpuPct !== undefined) parts.push(`coordinator CPU ${fmt(r.coordCpuPct, 0)} %`);
    if (Object.keys(r.load.statuses).length) parts.push(`answers by status ${JSON.stringify(r.load.statuses)}`);
    if (r.backlogAtEnd) parts.push(`open after load ${r.backlogAtEnd}, drained in ${fmt(r.drainSeconds)} s`);
    if (r.finalStatuses) parts.push(`store after drain ${JSON.stringify(r.finalStatuses)}`);
    if (r.participantCalls) parts.push(`participant calls ${JSON.stringify(r.participantCalls)}`);
    const lv = Object.entries(r.coordinatorLogLevels ?? {}).filter(([k]) => k !== 'info');
    if (lv.length) parts.push(`coordinator log lines ${JSON.stringify(Object.fromEntries(lv))}`);
    out.push(`- #${i + 1}${r.scenario.round === undefined ? '' : ` (round ${r.scenario.round})`}: ${parts.join('; ')}`);
    for (const n of r.notes) out.push(`  - note: ${n}`);
  });
  return out.join('\n');
}

function backlogSection(b: BacklogResult): string {
  const t = (x?: TrafficStats) => (x ? `${fmt(x.txPerSec, 0)} tx/s, p50 ${fmt(x.p50)} ms, p99 ${fmt(x.p99)} ms, errors ${errorsText(x.errors)}` : '-');
  const rate = b.drainSeconds !== undefined ? b.built / b.drainSeconds : b.drained / b.watchedSeconds;
  const afterFirst =
    b.firstConfirmSeconds !== undefined && b.drainSeconds !== undefined && b.drainSeconds > b.firstConfirmSeconds
      ? b.built / (b.drainSeconds - b.firstConfirmSeconds)
      : undefined;
  const alone = [b.referenceBefore, b.referenceAfter].filter((x): x is TrafficStats => x !== undefined).map((x) => x.txPerSec);
  const aloneMean = alone.length ? alone.reduce((x, y) => x + y, 0) / alone.length : NaN;
  const traffic = b.trafficConcurrency ? `traffic Execute 2 branches wait=${b.wait} at concurrency ${b.trafficConcurrency}` : 'no traffic during the drain';
  return [
    `### Backlog (${b.db}, ${b.transport} transport, ${traffic})`,
    '',
    '| backlog built | build s | drained | drain s | drain tx/s (all) | drain tx/s after the first Confirm | coord. CPU % during drain | coord. RSS max MB | new traffic during drain / alone |',
    '|---|---|---|---|---|---|---|---|---|',
    `| ${b.built} of ${b.requested} | ${fmt(b.buildSeconds, 0)} | ${b.drained} | ${b.drainSeconds === undefined ? `> ${fmt(b.watchedSeconds, 0)}` : fmt(b.drainSeconds, 1)} | ` +
      `**${fmt(rate, 0)}** | ${fmt(afterFirst, 0)} | ${fmt(b.coordCpuPctDuringDrain, 0)} | ${fmt(b.rssMaxMb, 0)} | ${fmt((b.duringDrain?.txPerSec ?? NaN) / aloneMean, 2)} |`,
    '',
    `New traffic alone before the build: ${t(b.referenceBefore)}; after the drain (or its time limit; what is still open keeps recovering): ${t(b.referenceAfter)}; during the drain: ${t(b.duringDrain)}.`,
    `Drain rate by 10 s slice (backlog CONFIRMED per s): ${b.drainRateBySlice.map((x) => fmt(x, 0)).join(', ') || '-'}.`,
    `Build: Execute wait=false at concurrency 64 while the participant held every Confirm unanswered (released OK when the drain starts); errors ${errorsText(b.buildErrors)}.`,
    'The coordinator ran with TCC_BRANCH_TIMEOUT_MS=600000 (held Confirms outlive the build), TCC_RETRY_INITIAL_MS=1000, TCC_RETRY_MAX_MS=5000 (no backlogged transaction further than 5 s from its',
    `next retry when Confirm works again), TCC_SWEEP_INTERVAL_MS=${b.sweepMs} (default 1000), TCC_RECOVERY_CONCURRENCY_PER_TARGET=${b.slots} (default 256: Confirm calls in flight`,
    `to the participant, a slot held from the claim to the call's answer; new traffic holds at most half) and stuck flagging off; the drain is the count of the backlog's transactions`,
    '(gids bl-…) CONFIRMED, read from the store every second, from the moment Confirm works again.',
    ...b.notes.map((n) => `- note: ${n}`),
  ].join('\n');
}

function soakSection(s: SoakResult): string {
  const head = '| minute | ' + s.txPerSecByMinute.map((_, i) => String(i + 1)).join(' | ') + ' |';
  return [
    `### Soak (${s.db}, ${s.transport} transport, Execute 2 branches wait=${s.wait}, concurrency ${s.concurrency}, ${s.minutes} min)`,
    '',
    `Committed ${s.committed}, p50 ${fmt(s.p50)} ms, p99 ${fmt(s.p99)} ms, errors ${errorsText(s.errors)}.`,
    `Coordinator RSS (MB, ${s.rss.samples} samples every 10 s): first ${fmt(s.rss.first, 0)}, min ${fmt(s.rss.min, 0)}, max ${fmt(s.rss.max, 0)}, last ${fmt(s.rss.last, 0)}.`,
    '',
    head,
    '|' + head.split('|').slice(1, -1).map(() => '---').join('|') + '|',
    '| tx/s | ' + s.txPerSecByMinute.map((x) => fmt(x, 0)).join(' | ') + ' |',
    '| RSS MB at its end | ' + s.rssByMinute.map((x) => fmt(x, 0)).join(' | ') + ' |',
    ...s.notes.map((n) => `- note: ${n}`),
  ].join('\n');
}

export interface RunReport {
  o: Options;
  results: ScenarioResult[];
  backlog?: BacklogResult;
  soak?: SoakResult;
  loadBefore: string;
  mysqlSettings?: string;
}

export function section(r: RunReport): string {
  const { o } = r;
  const when = new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const cpus = os.cpus().length;
  const usesMysql = o.dbs.includes('mysql');
  const out = [
    `## ${when} — commit ${gitCommit()}`,
    '',
    `Machine: ${machineInfo()}.`,
    `Load generator, coordinator, participant${usesMysql ? ' and MariaDB' : ''} all share these ${cpus} core(s), loopback only: the numbers are a floor for a dedicated coordinator host.`,
    `Load average (1/5/15 min) before: ${r.loadBefore}, after: ${loadAvg()} (anything else running on the host skews the numbers).`,
    `Settings: preset ${o.preset}, warm-up ${o.warmupSeconds} s, measured ${o.seconds} s per scenario, wait=${o.waits.join('/')}, ` +
      `one gRPC connection per 64 workers, a fresh coordinator and database per scenario${o.redisUrl ? `, Redis ${o.redisUrl}` : ', no Redis'}` +
      `${o.rounds > 1 ? `, ${o.rounds} rounds` : ''}.`,
  ];
  const rounds = roundsTable(r.results);
  if (rounds) {
    out.push(
      '',
      `Over ${o.rounds} rounds (the whole matrix run ${o.rounds} times in a row; the table after this one has every round's rows, and its details say which round each is); p50, p99 and CPU are medians:`,
      '',
      rounds,
    );
  }
  if (r.results.length) out.push('', matrixTable(r.results), '', matrixLegend(r.results, r.mysqlSettings), '', matrixDetails(r.results));
  if (r.backlog) out.push('', backlogSection(r.backlog));
  if (r.soak) out.push('', soakSection(r.soak));
  out.push('');
  return out.join('\n');
}
