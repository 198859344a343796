/** Command line of `npm run chaos` (chaos/run.ts). */

export interface ChaosArgs {
  /** How long faults are injected and transactions started, ms. Default 60 s. */
  durationMs: number;
  /** Seed of the fault schedule and workload choices. Default: random, printed. */
  seed: number;
  /** Coordinator replicas, 2 or 3. Default 2. */
  replicas: 2 | 3;
  /** Passed to the coordinators as TCC_PARTICIPANT_TRANSPORT when set. Default: unset (the coordinator's default). */
  transport: string | undefined;
  /** Concurrent client workers. Default 6. */
  workers: number;
  /** Most transactions started in the run (then the workers stop; faults go on until the time is up). Default 100 000. */
  maxTransactions: number;
  /** Longest wait for every transaction to finish after the faults stop, ms. Default 180 s. */
  quiescenceTimeoutMs: number;
  help: boolean;
}

export const CHAOS_USAGE = `Usage: npm run chaos -- [options]

Starts a private MariaDB and redis-server, 2-3 coordinator replicas, the account,
inventory and fault-injecting participants, runs seeded transactions while
injecting faults, then checks the invariants. Exit 0 only with 0 violations.

  --seconds N      inject faults and run transactions for N seconds (default 60)
  --minutes N      same, in minutes
  --seed S         seed of the fault schedule and workload (default: random, printed)
  --replicas 2|3   coordinator replicas (default 2)
  --workers N      concurrent client workers, 1-64 (default 6)
  --max-transactions N  stop starting transactions after N (default 100000)
  --quiescence-seconds N  longest wait for every transaction to finish (default 180)
  --transport T    set TCC_PARTICIPANT_TRANSPORT=T on the coordinators (default: unset)
  --help           this text
`;

export class ChaosArgsError extends Error {}

function whole(flag: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined || !/^\d+$/.test(raw)) throw new ChaosArgsError(`${flag}: expected a whole number`);
  const n = Number(raw);
  if (n < min || n > max) throw new ChaosArgsError(`${flag}: must be between ${min} and ${max}`);
  return n;
}

/** Parses argv (without node and the script); throws ChaosArgsError naming the bad flag. */
export function parseChaosArgs(argv: readonly string[], randomSeed: () => number): ChaosArgs {
  const args: ChaosArgs = {
    durationMs: 60_000,
    seed: randomSeed(),
    replicas: 2,
    transport: undefined,
    workers: 6,
    maxTransactions: 100_000,
    quiescenceTimeoutMs: 180_000,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string | undefined => argv[++i];
    switch (flag) {
      case '--seconds':
        args.durationMs = whole(flag, value(), 1, 24 * 3600) * 1000;
        break;
      case '--minutes':
        args.durationMs = whole(flag, value(), 1, 24 * 60) * 60_000;
        break;
      case '--seed':
        args.seed = whole(flag, value(), 0, 4_294_967_295);
        break;
      case '--replicas': {
        const n = whole(flag, value(), 2, 3);
        args.replicas = n === 3 ? 3 : 2;
        break;
      }
      case '--workers':
        args.workers = whole(flag, value(), 1, 64);
        break;
      case '--max-transactions':
        args.maxTransactions = whole(flag, value(), 1, 10_000_000);
        break;
      case '--quiescence-seconds':
        args.quiescenceTimeoutMs = whole(flag, value(), 1, 3600) * 1000;
        break;
      case '--transport': {
        const t = value();
        if (t === undefined || !/^[a-z-]{1,32}$/.test(t)) throw new ChaosArgsError('--transport: expected a word such as unary or stream');
        args.transport = t;
        break;
      }
      case '--help':
      case '-h':
        args.help = true;
        break;
      default:
        throw new ChaosArgsError(`unknown option ${flag}`);
    }
  }
  return args;
}
