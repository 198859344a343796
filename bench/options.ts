/** Command line of `npm run bench`: flags, presets and their defaults. */
import * as path from 'node:path';
import type { DbKind } from './bench-db';
import type { Flow } from './load';
import { REPO_ROOT, type Transport } from './processes';

export type Preset = 'standard' | 'full' | 'custom' | 'none';

export interface Options {
  preset: Preset;
  dbs: DbKind[];
  transports: Transport[];
  concurrencies: number[];
  branchCounts: number[];
  flows: Flow[];
  waits: boolean[];
  seconds: number;
  warmupSeconds: number;
  mysqlUrl: string;
  redisUrl?: string;
  maxErrorRate: number;
  resultsFile?: string;
  drainSeconds: number;
  /** Write a V8 CPU profile of each coordinator process into this folder. */
  profileDir?: string;
  /** Decided transactions to pile up before measuring the drain (undefined: no backlog scenario). */
  backlog?: number;
  /** Longest time spent building the backlog; a smaller backlog is measured (and said so) when it runs out. */
  backlogBuildSeconds: number;
  /** Longest time the drain is watched. */
  backlogDrainSeconds: number;
  /** Concurrency of the new traffic around and during the drain; 0 = the drain alone. */
  backlogTraffic: number;
  /** TCC_SWEEP_INTERVAL_MS of the backlog scenario's coordinator. */
  backlogSweepMs: number;
  /** TCC_RECOVERY_CONCURRENCY_PER_TARGET of the backlog scenario's coordinator. */
  backlogSlots: number;
  /** Minutes of the soak scenario (undefined: none). */
  soakMinutes?: number;
  /**
   * Times the matrix runs, one whole round after another, each round with its own
   * interleaved baselines; with more than one the report adds each scenario's median and
   * range over the rounds. Default 1.
   */
  rounds: number;
  /** Print the plan and its estimated time, run nothing. */
  planOnly: boolean;
}

export const DEFAULT_RESULTS = path.join(REPO_ROOT, 'bench', 'RESULTS.md');
export const ALL_CONCURRENCIES = [1, 16, 64, 256];
export const ALL_BRANCH_COUNTS = [2, 4, 8, 16];
const FULL_BACKLOG = 100_000;
const FULL_SOAK_MINUTES = 10;

export const USAGE = `usage: npm run bench -- [options]   (or: node dist/bench/run.js [options])

Durable TCC transactions per second against a baseline without coordinator, per
scenario (database x participant transport x concurrency x flow x branches),
all loopback, all in one bounded run. Default: the "standard" preset (about 10
minutes; the planned scenario count and time are printed first).

Presets:
  (none given)         standard: Execute with 2 branches at concurrency 1,16,64,256 on every
                       selected db and transport; Execute with 4,8,16 branches at concurrency
                       64 on the first selected db (both transports); interactive (Begin/Try/Commit)
                       with 2 branches at concurrency 64 on every db and transport
  --full               every combination of db, transport, concurrency 1,16,64,256, flow
                       execute+interactive and 2,4,8,16 branches, plus --backlog ${FULL_BACKLOG} and --soak ${FULL_SOAK_MINUTES}
  --concurrency/--branches/--flow given: exactly the combinations of the lists given
                       (unset ones: concurrency 64, branches 2, flow execute)
  --backlog/--soak given alone: only those scenarios (add --preset standard for both)

Selection:
  --db sqlite|mysql|both          (default both)
  --transport stream|unary|both   the coordinator's TCC_PARTICIPANT_TRANSPORT (default both)
  --concurrency LIST   closed-loop workers, e.g. 1,64 (one HTTP/2 connection per 64)
  --branches LIST      branches per transaction, e.g. 2,8
  --flow execute|interactive|both
  --wait true|false|both          wait=true answers after the Confirms (what the baseline does);
                       wait=false once the decision is durable (default true)
  --preset standard|full|none
  --seconds N          measured time per scenario (default 8)
  --rounds N           run the whole matrix N times in a row (default 1); the report adds each
                       scenario's median and range of tx/s and ratio to the baseline over the
                       rounds (on a shared 2-core machine one run's ratio moves by 10 % or more)
  --warmup N           unmeasured seconds before it (default 2)

Extra scenarios (bounded; both are in --full):
  --backlog N          N decided transactions whose Confirm cannot run (the participant holds
                       the calls), then Confirm works again: drain rate of the backlog while
                       new Execute traffic runs at concurrency 64, vs that traffic alone
                       (measured before the build and after the drain)
  --backlog-build-seconds N   stop building after N s and measure what was built (default and most 540)
  --backlog-drain-seconds N   longest time the drain is watched (default 600)
  --backlog-traffic N  concurrency of the new traffic (default 64; 0: the drain alone)
  --backlog-sweep-ms N the coordinator's TCC_SWEEP_INTERVAL_MS in this scenario (default 1000, its default)
  --backlog-slots N    the coordinator's TCC_RECOVERY_CONCURRENCY_PER_TARGET in this scenario (default 256,
                       its default): Confirm calls in flight to the participant, what bounds the drain
  --soak MINUTES       Execute at concurrency 256 for that long; coordinator RSS every 10 s

Other:
  --mysql-url URL      mysql://user[:pass]@host[:port] where a fresh database tcc_bench_<time>
                       is created and dropped per scenario (default $TCC_BENCH_MYSQL_URL or mysql://root@127.0.0.1:3306)
  --redis-url URL      give the coordinator TCC_REDIS_URL (default: none)
  --max-error-rate R   fail when more than this fraction of calls failed (default 0.01)
  --drain-seconds N    longest wait for phase two to finish after a scenario's load (default 30)
  --write              append the results to bench/RESULTS.md (tracked; default: print only)
  --results FILE       append the results to FILE instead
  --profile DIR        run the coordinator with --cpu-prof, profiles in DIR
  --plan               print the planned scenarios and the estimated time, run nothing
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

function both<T extends string>(name: string, v: string | undefined, values: readonly T[]): T[] {
  if (v === 'both') return [...values];
  if (v !== undefined && (values as readonly string[]).includes(v)) return [v as T];
  return usage(`${name} must be ${values.join(', ')} or both`);
}

export function parseArgs(argv: string[]): Options {
  const o: Options = {
    preset: 'standard',
    dbs: ['sqlite', 'mysql'],
    transports: ['stream', 'unary'],
    concurrencies: [64],
    branchCounts: [2],
    flows: ['execute'],
    waits: [true],
    seconds: 8,
    warmupSeconds: 2,
    mysqlUrl: process.env.TCC_BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306',
    maxErrorRate: 0.01,
    drainSeconds: 30,
    backlogBuildSeconds: 540,
    backlogDrainSeconds: 600,
    backlogTraffic: 64,
    backlogSweepMs: 1_000,
    backlogSlots: 256,
    rounds: 1,
    planOnly: false,
  };
  let explicitPreset: Preset | undefined;
  let matrixListGiven = false;
  const num = (name: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(n) || n < min || n > max) usage(`${name} must be a number in [${min}, ${max}]`);
    return n;
  };
  const list = (name: string, v: string | undefined, min: number, max: number): number[] => {
    const parts = (v ?? '').split(',').filter((x) => x.trim() !== '');
    if (!parts.length) usage(`${name} needs a comma-separated list of numbers`);
    return [...new Set(parts.map((p) => Math.floor(num(name, p.trim(), min, max))))];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const next = (): string | undefined => (eq > 0 ? a.slice(eq + 1) : argv[++i]);
    switch (name) {
      case '--full':
        explicitPreset = 'full';
        break;
      case '--preset': {
        const v = next();
        if (v !== 'standard' && v !== 'full' && v !== 'none') usage('--preset must be standard, full or none');
        explicitPreset = v;
        break;
      }
      case '--concurrency':
        o.concurrencies = list(name, next(), 1, 10_000);
        matrixListGiven = true;
        break;
      case '--branches':
        o.branchCounts = list(name, next(), 1, 64);
        matrixListGiven = true;
        break;
      case '--flow':
        o.flows = both(name, next(), ['execute', 'interactive'] as const);
        matrixListGiven = true;
        break;
      case '--db':
        o.dbs = both(name, next(), ['sqlite', 'mysql'] as const);
        break;
      case '--transport':
        o.transports = both(name, next(), ['stream', 'unary'] as const);
        break;
      case '--wait': {
        const v = next();
        if (v === 'both') o.waits = [true, false];
        else if (v === 'true' || v === 'false') o.waits = [v === 'true'];
        else usage('--wait must be true, false or both');
        break;
      }
      case '--seconds':
        o.seconds = num(name, next(), 0.5, 3_600);
        break;
      case '--rounds':
        o.rounds = Math.floor(num(name, next(), 1, 50));
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
      case '--backlog':
        o.backlog = Math.floor(num(name, next(), 1, 10_000_000));
        break;
      case '--backlog-build-seconds':
        o.backlogBuildSeconds = num(name, next(), 1, 7_200);
        break;
      case '--backlog-drain-seconds':
        o.backlogDrainSeconds = num(name, next(), 1, 7_200);
        break;
      case '--backlog-sweep-ms':
        o.backlogSweepMs = Math.floor(num(name, next(), 10, 600_000));
        break;
      case '--backlog-slots':
        o.backlogSlots = Math.floor(num(name, next(), 1, 1_000));
        break;
      case '--backlog-traffic':
        o.backlogTraffic = Math.floor(num(name, next(), 0, 10_000));
        break;
      case '--soak':
        o.soakMinutes = num(name, next(), 0.1, 24 * 60);
        break;
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
      case '--plan':
        o.planOnly = true;
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
  if (explicitPreset === 'full') {
    o.preset = 'full';
    if (!matrixListGiven) {
      o.concurrencies = ALL_CONCURRENCIES;
      o.branchCounts = ALL_BRANCH_COUNTS;
      o.flows = ['execute', 'interactive'];
    }
    o.backlog ??= FULL_BACKLOG;
    o.soakMinutes ??= FULL_SOAK_MINUTES;
  } else if (explicitPreset) {
    o.preset = explicitPreset;
  } else if (matrixListGiven) {
    o.preset = 'custom';
  } else if (o.backlog !== undefined || o.soakMinutes !== undefined) {
    o.preset = 'none';
  }
  return o;
}
