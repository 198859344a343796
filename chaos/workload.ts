/**
 * The chaos run's transactions: concurrent workers, each with its own seeded
 * generator, run Execute or the interactive flow (Begin, Try..., Commit or
 * Rollback) through the client SDK with 1-8 branches mixing account
 * debit+credit pairs (so committed transfers conserve money), inventory
 * reservations and fault-participant calls. Every answer the client got is
 * recorded for the contract checks.
 */
import {
  TccClient,
  TransactionRolledBackError,
  TransactionStateError,
  type BranchSpecInput,
} from '../src/client';
import { ACCOUNTS, BRANCH_TIMEOUT_MS, SKUS, type Cluster } from './cluster';
import { type FaultMode } from './fault-participant';
import type { SeededRandom } from './seeded-random';

/** What the client was told about a transaction. */
export type ClientAnswer =
  /** Commit/Execute answered CONFIRMING or CONFIRMED. */
  | 'committed'
  /** TransactionRolledBackError, or Rollback answered CANCELLING/CANCELLED. */
  | 'rolled-back'
  /** Rollback refused because the transaction is committed (TransactionStateError). */
  | 'rollback-refused'
  /** Outcome unknown (lost answer, coordinator unreachable, ...). */
  | 'unknown';

export interface ClientRecord {
  gid: string;
  flow: 'execute' | 'interactive';
  /** Whether a Commit or Execute was ever sent: without one the transaction must never end CONFIRMED. */
  commitSent: boolean;
  answer: ClientAnswer;
}

const TX_TIMEOUT_MS = 15_000;

function weighted<T>(rng: SeededRandom, items: ReadonlyArray<readonly [T, number]>): T {
  const total = items.reduce((s, [, w]) => s + w, 0);
  let x = rng.next() * total;
  for (const [item, w] of items) {
    x -= w;
    if (x < 0) return item;
  }
  return items[items.length - 1][0];
}

const TRY_MODES: ReadonlyArray<readonly [FaultMode, number]> = [
  ['ok', 5], ['refuse', 1], ['error-before', 1], ['error-after', 1], ['hang', 1], ['twice', 1],
];
const PHASE_TWO_MODES: ReadonlyArray<readonly [FaultMode, number]> = [
  ['ok', 4], ['error-before', 1], ['error-after', 1], ['hang', 1], ['twice', 1],
];

/** 1-8 branches with ids b0..b(n-1), drawn from `rng`. */
export function drawBranches(rng: SeededRandom, cluster: Pick<Cluster, 'accountTarget' | 'inventoryTarget' | 'faultTarget'>): BranchSpecInput[] {
  const n = rng.int(1, 8);
  const out: BranchSpecInput[] = [];
  while (out.length < n) {
    const kind = n - out.length >= 2 ? rng.pick(['money', 'reserve', 'fault'] as const) : rng.pick(['reserve', 'fault'] as const);
    if (kind === 'money') {
      const from = rng.pick(ACCOUNTS);
      const to = rng.pick(ACCOUNTS.filter((a) => a !== from));
      const amount = rng.int(1, 500);
      out.push({ participant: cluster.accountTarget, action: 'debit', payload: JSON.stringify({ account: from, amount }) });
      out.push({ participant: cluster.accountTarget, action: 'credit', payload: JSON.stringify({ account: to, amount }) });
    } else if (kind === 'reserve') {
      out.push({ participant: cluster.inventoryTarget, action: 'reserve', payload: JSON.stringify({ sku: rng.pick(SKUS), qty: rng.int(1, 5) }) });
    } else {
      const payload = { units: rng.int(1, 10), try: weighted(rng, TRY_MODES), confirm: weighted(rng, PHASE_TWO_MODES), cancel: weighted(rng, PHASE_TWO_MODES) };
      out.push({ participant: cluster.faultTarget, action: 'points', payload: JSON.stringify(payload) });
    }
  }
  return out.map((b, i) => ({ ...b, branchId: `b${i}` }));
}

export class Workload {
  readonly records: ClientRecord[] = [];
  private readonly clients: TccClient[];

  constructor(
    private readonly cluster: Cluster,
    private readonly seed: number,
  ) {
    this.clients = cluster.coordinatorAddresses.map((a) => new TccClient(a, { callTimeoutMs: 10_000 }));
  }

  count(answer: ClientAnswer): number {
    return this.records.filter((r) => r.answer === answer).length;
  }

  private started = 0;

  /** Runs `workers` workers while `keepGoing()` holds, at most `max` transactions; resolves when the last one has answered. */
  async run(workers: number, rngs: SeededRandom[], keepGoing: () => boolean, max: number): Promise<void> {
    await Promise.all(
      rngs.slice(0, workers).map(async (rng, w) => {
        for (let n = 0; keepGoing() && this.started < max; n++) {
          this.started++;
          const gid = `chaos-${this.seed}-w${w}-${n}`;
          const client = rng.pick(this.clients);
          const branches = drawBranches(rng, this.cluster);
          const record =
            rng.chance(0.5) ? await this.execute(client, gid, branches, rng) : await this.interactive(client, gid, branches, rng);
          this.records.push(record);
          // A worker whose coordinator is down fails fast: do not spin.
          if (record.answer === 'unknown') await new Promise((r) => setTimeout(r, 500));
        }
      }),
    );
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  private async execute(client: TccClient, gid: string, branches: BranchSpecInput[], rng: SeededRandom): Promise<ClientRecord> {
    const record: ClientRecord = { gid, flow: 'execute', commitSent: true, answer: 'unknown' };
    try {
      await client.execute({ gid, branches, timeoutMs: TX_TIMEOUT_MS, wait: rng.chance(0.3), sequential: rng.chance(0.3), callTimeoutMs: 30_000 });
      record.answer = 'committed';
    } catch (err) {
      record.answer = err instanceof TransactionRolledBackError ? 'rolled-back' : 'unknown';
    }
    return record;
  }

  private async interactive(client: TccClient, gid: string, branches: BranchSpecInput[], rng: SeededRandom): Promise<ClientRecord> {
    const record: ClientRecord = { gid, flow: 'interactive', commitSent: false, answer: 'unknown' };
    const wantCommit = rng.chance(0.7);
    const wait = rng.chance(0.3);
    try {
      await client.begin({ gid, timeoutMs: TX_TIMEOUT_MS });
    } catch {
      // The Begin may have been stored all the same: it then times out and rolls back.
      return record;
    }
    let ok = true;
    for (const b of branches) {
      try {
        await client.try(gid, b, { timeoutMs: BRANCH_TIMEOUT_MS, callTimeoutMs: 10_000 });
      } catch {
        // Refused (BranchRefusedError), unknown (BranchOutcomeUnknownError) or unreachable: it can no longer commit.
        ok = false;
        break;
      }
    }
    if (ok && wantCommit) {
      record.commitSent = true;
      try {
        await client.commit(gid, { wait, callTimeoutMs: 15_000 });
        record.answer = 'committed';
      } catch (err) {
        record.answer = err instanceof TransactionRolledBackError ? 'rolled-back' : 'unknown';
      }
      return record;
    }
    try {
      await client.rollback(gid, { wait, callTimeoutMs: 15_000 });
      record.answer = 'rolled-back';
    } catch (err) {
      // TransactionStateError: the coordinator says committed, though no Commit was sent (a violation).
      record.answer = err instanceof TransactionStateError ? 'rollback-refused' : 'unknown';
    }
    return record;
  }
}
