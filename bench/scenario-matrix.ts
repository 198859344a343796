/**
 * Which scenarios a run measures, in which order, and how long that should
 * take. Baselines are interleaved with the coordinator scenarios of the same
 * concurrency and branch count (one before, then one after every few), so a
 * slow patch of the shared machine hits a coordinator scenario and the
 * baselines it is compared with alike.
 */
import type { DbKind } from './bench-db';
import type { Flow } from './load';
import type { Options } from './options';
import type { Transport } from './processes';

export interface CoordinatorScenario {
  kind: 'coordinator';
  db: DbKind;
  transport: Transport;
  concurrency: number;
  branches: number;
  flow: Flow;
  wait: boolean;
  /** Which round of a --rounds run (from 1); absent when the run has one round. */
  round?: number;
}

export interface BaselineScenario {
  kind: 'baseline';
  concurrency: number;
  branches: number;
  /** Which round of a --rounds run (from 1); absent when the run has one round. */
  round?: number;
}

export type MatrixScenario = CoordinatorScenario | BaselineScenario;

/** At most this many coordinator scenarios between two baselines of their group. */
export const BASELINE_EVERY = 4;

/** Seconds a scenario needs besides warm-up and window (start, drain, stop, database create/drop), measured on 2 cores. */
const OVERHEAD_SECONDS = { baseline: 1, sqlite: 3, mysql: 5 };

function cross(o: Options, concurrencies: number[], branchCounts: number[], flows: Flow[], dbs: DbKind[], transports: Transport[]): CoordinatorScenario[] {
  const out: CoordinatorScenario[] = [];
  for (const concurrency of concurrencies)
    for (const branches of branchCounts)
      for (const flow of flows)
        for (const wait of o.waits)
          for (const db of dbs) for (const transport of transports) out.push({ kind: 'coordinator', db, transport, concurrency, branches, flow, wait });
  return out;
}

/** The coordinator scenarios of the preset, before grouping. */
function coordinatorScenarios(o: Options): CoordinatorScenario[] {
  switch (o.preset) {
    case 'none':
      return [];
    case 'full':
    case 'custom':
      return cross(o, o.concurrencies, o.branchCounts, o.flows, o.dbs, o.transports);
    case 'standard':
      return [
        ...cross(o, [1, 16, 64, 256], [2], ['execute'], o.dbs, o.transports),
        // Branch count matters most to the coordinator's own work per call: one db is enough to see it.
        ...cross(o, [64], [4, 8, 16], ['execute'], [o.dbs[0]], o.transports),
        ...cross(o, [64], [2], ['interactive'], o.dbs, o.transports),
      ];
  }
}

/**
 * The run order: per (concurrency, branches) group, baseline, up to BASELINE_EVERY
 * coordinator scenarios, baseline, …; with --rounds, that whole order again per round
 * (rounds one after another, not each scenario N times in a row: a slow patch of the
 * machine then hits one round of everything rather than all rounds of one scenario).
 */
export function planMatrix(o: Options): MatrixScenario[] {
  const one = planRound(o);
  if (o.rounds <= 1) return one;
  const plan: MatrixScenario[] = [];
  for (let round = 1; round <= o.rounds; round++) plan.push(...one.map((s) => ({ ...s, round })));
  return plan;
}

function planRound(o: Options): MatrixScenario[] {
  const groups = new Map<string, CoordinatorScenario[]>();
  for (const s of coordinatorScenarios(o)) {
    const key = `${s.concurrency}/${s.branches}`;
    const g = groups.get(key) ?? [];
    g.push(s);
    groups.set(key, g);
  }
  const keys = [...groups.keys()].sort((a, b) => {
    const [ca, ba] = a.split('/').map(Number);
    const [cb, bb] = b.split('/').map(Number);
    return ca - cb || ba - bb;
  });
  const plan: MatrixScenario[] = [];
  for (const key of keys) {
    const g = groups.get(key) ?? [];
    const base: BaselineScenario = { kind: 'baseline', concurrency: g[0].concurrency, branches: g[0].branches };
    plan.push(base);
    for (let i = 0; i < g.length; i += BASELINE_EVERY) {
      plan.push(...g.slice(i, i + BASELINE_EVERY), { ...base });
    }
  }
  return plan;
}

export function estimateScenarioSeconds(o: Options, s: MatrixScenario): number {
  const overhead = s.kind === 'baseline' ? OVERHEAD_SECONDS.baseline : OVERHEAD_SECONDS[s.db];
  return o.warmupSeconds + o.seconds + overhead;
}

/**
 * Build at ~150 tx/s (Execute wait=false, Confirms held) on the 2-core reference machine; the drain
 * at most ~30 tx/s (recovery claims 32 two-branch transactions per 1 s sweep; with new traffic it
 * measured far less), so a large backlog usually runs into --backlog-drain-seconds.
 */
export function estimateBacklogSeconds(o: Options): number {
  if (o.backlog === undefined) return 0;
  const build = Math.min(o.backlogBuildSeconds, o.backlog / 150);
  const drain = Math.min(o.backlogDrainSeconds, Math.min(o.backlog, build * 150) / 30);
  return 10 + 2 * (o.warmupSeconds + o.seconds) + build + drain + 10;
}

export function estimateSoakSeconds(o: Options): number {
  return o.soakMinutes === undefined ? 0 : o.soakMinutes * 60 + 10;
}

/** What a scenario measures, the same in every round: the key its rounds are summarised by. */
export function scenarioName(s: MatrixScenario): string {
  if (s.kind === 'baseline') return `baseline c=${s.concurrency} b=${s.branches}`;
  return `${s.flow}${s.wait ? '' : ' wait=false'} ${s.db}/${s.transport} c=${s.concurrency} b=${s.branches}`;
}

export function describeScenario(s: MatrixScenario): string {
  return s.round === undefined ? scenarioName(s) : `${scenarioName(s)} (round ${s.round})`;
}
