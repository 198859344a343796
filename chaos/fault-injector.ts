/**
 * The fault schedule of a chaos run: one fault after another at seeded random
 * gaps (the first round is every kind once, in a seeded order, so even a
 * short run sees each kind), plus the replica pause, which runs alongside
 * (it lasts longer than a claim lease). Each fault ends with what it broke
 * running again. Counts are per kind.
 */
import { CLAIM_LEASE_MS, type Cluster } from './cluster';
import type { SeededRandom } from './seeded-random';

export const FAULT_KINDS = [
  'participant_kill',
  'coordinator_kill',
  'coordinator_pause',
  'db_stall',
  'db_kill',
  'kill_connection',
  'redis_restart',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class FaultInjector {
  readonly counts = new Map<FaultKind, number>(FAULT_KINDS.map((k) => [k, 0]));
  /** Faults that could not be carried out (e.g. a process did not come back in time), by message. */
  readonly errors: string[] = [];
  private pausedReplica: number | undefined;
  private pauseTask: Promise<void> = Promise.resolve();

  constructor(
    private readonly cluster: Cluster,
    private readonly rng: SeededRandom,
    private readonly log: (line: string) => void,
  ) {}

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  /**
   * Injects faults until `until` (epoch ms); resolves once the last one has
   * ended. The first round (each kind once) always completes, even past
   * `until` on a slow machine, so every run sees every kind.
   */
  async run(until: number): Promise<void> {
    const round: FaultKind[] = this.rng.shuffle(FAULT_KINDS);
    while (Date.now() < until || round.length > 0) {
      await sleep(this.rng.int(500, 2_000));
      if (Date.now() >= until && round.length === 0) break;
      const kind = round.shift() ?? this.rng.pick(FAULT_KINDS);
      try {
        await this.inject(kind);
      } catch (err) {
        this.errors.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
        this.log(`fault ${kind} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await this.pauseTask;
  }

  private count(kind: FaultKind): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  private async inject(kind: FaultKind): Promise<void> {
    const c = this.cluster;
    switch (kind) {
      case 'participant_kill': {
        const p = this.rng.pick(c.participants);
        this.log(`fault: SIGKILL ${p.name}`);
        this.count(kind);
        await p.kill();
        await sleep(this.rng.int(200, 1_500));
        await p.start();
        return;
      }
      case 'coordinator_kill': {
        const candidates = c.coordinators.filter((_p, i) => i !== this.pausedReplica);
        const p = this.rng.pick(candidates);
        this.log(`fault: SIGKILL ${p.name}`);
        this.count(kind);
        await p.kill();
        await sleep(this.rng.int(200, 1_500));
        await p.start();
        return;
      }
      case 'coordinator_pause': {
        // One pause at a time; waiting (rather than picking another kind) keeps the seeded schedule independent of timing.
        await this.pauseTask;
        const i = this.rng.int(0, c.coordinators.length - 1);
        const p = c.coordinators[i];
        const ms = CLAIM_LEASE_MS + this.rng.int(1_000, 3_000);
        this.log(`fault: SIGSTOP ${p.name} for ${ms} ms (claim lease ${CLAIM_LEASE_MS} ms)`);
        this.count(kind);
        this.pausedReplica = i;
        p.pause();
        // Runs alongside the next faults: it outlasts a claim lease.
        this.pauseTask = sleep(ms).then(() => {
          p.resume();
          this.pausedReplica = undefined;
          this.log(`fault: SIGCONT ${p.name}`);
        });
        return;
      }
      case 'db_stall': {
        const ms = this.rng.int(1_500, 4_000);
        this.log(`fault: SIGSTOP mariadbd for ${ms} ms`);
        this.count(kind);
        c.mariadb.pause();
        await sleep(ms);
        c.mariadb.resume();
        return;
      }
      case 'db_kill': {
        this.log('fault: SIGKILL mariadbd');
        this.count(kind);
        await c.mariadb.kill();
        await sleep(this.rng.int(200, 1_500));
        await c.mariadb.start();
        return;
      }
      case 'kill_connection': {
        // Two draws whatever the number of connections (which depends on timing), so the schedule after this stays the seed's.
        const share = Math.max(this.rng.next(), 0.3);
        const salt = this.rng.int(0, 0x7fffffff);
        const picked = (id: number) => ((Math.imul(id, 0x9e3779b1) ^ salt) >>> 0) / 4_294_967_296 < share;
        const killed = await c.killCoordinatorConnections((ids) => ids.filter(picked));
        this.log(`fault: KILL CONNECTION x${killed} (coordinator connections)`);
        this.count(kind);
        return;
      }
      case 'redis_restart': {
        this.log('fault: SIGKILL redis-server, restart');
        this.count(kind);
        await c.redis.kill();
        await sleep(this.rng.int(200, 1_000));
        await c.redis.start();
        return;
      }
    }
  }
}
