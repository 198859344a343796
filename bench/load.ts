/**
 * Closed-loop load: `concurrency` workers, each running one transaction after
 * the other, counting only those that complete inside the measured window
 * (after the warm-up). Three kinds of transaction, all with the same branches
 * and payloads, so their rates compare:
 *
 * - execute: one Coordinator.Execute with N branches;
 * - interactive: Coordinator.Begin, one Coordinator.Try per branch (in
 *   parallel), Coordinator.Commit;
 * - baseline: no coordinator: the load generator itself calls the
 *   participant's Try on every branch (in parallel), then Confirm on every
 *   branch (in parallel), over unary gRPC. That is the least any coordinator
 *   must do; the report's ratio column is coordinator tx/s over this.
 *
 * Workers share one client (one HTTP/2 connection) per 64 of them.
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { CoordinatorClient } from '../src/generated/tcc/v1/Coordinator';
import type { ParticipantClient } from '../src/generated/tcc/v1/Participant';
import type { BeginResponse__Output } from '../src/generated/tcc/v1/BeginResponse';
import type { BranchResponse__Output } from '../src/generated/tcc/v1/BranchResponse';
import type { BranchSpec } from '../src/generated/tcc/v1/BranchSpec';
import type { Transaction__Output } from '../src/generated/tcc/v1/Transaction';
import type { TryResponse__Output } from '../src/generated/tcc/v1/TryResponse';
import { loadTccProto } from '../src/protocol/tcc-proto';
import { makeCoordinatorClient } from './processes';

export type Flow = 'execute' | 'interactive';

export const WORKERS_PER_CONNECTION = 64;

export interface LoadResult {
  committed: number;
  /** Completions (any outcome) inside the measurement window. */
  completed: number;
  latenciesMs: Float64Array;
  /** Failed transactions by `<RPC>:<gRPC code>`. */
  errors: Record<string, number>;
  /** Status of the transaction in the coordinator's answer (CONFIRMED, CONFIRMING, …). */
  statuses: Record<string, number>;
  /** The measured window: `seconds`, or less when `stopWhen`/`maxTransactions` ended it early. */
  windowSeconds: number;
  /** Calls still running when the window closed (they finish afterwards, uncounted). */
  lateCalls: number;
  /** Committed transactions per `bucketMs` slice of the window, when asked for. */
  buckets?: number[];
}

/** What one transaction ended with: OK, or the RPC that failed and its code. */
interface Outcome {
  failedRpc?: string;
  code: grpc.status;
  status?: string;
}

export interface LoadOptions {
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
  bucketMs?: number;
  /** Called once the warm-up is over and the window opens (CPU/counter snapshots). */
  onWindowStart?: () => void;
  /** Workers start no new transaction once this returns true (the window then ends early). */
  stopWhen?: () => boolean;
  /** Workers start at most this many transactions in all. */
  maxTransactions?: number;
}

/** Runs `txn` from `concurrency` closed-loop workers; `txn(w, seq)` gets the worker's index and a per-worker sequence number. */
export async function runClosedLoop(opts: LoadOptions, txn: (worker: number, seq: number) => Promise<Outcome>): Promise<LoadResult> {
  const start = performance.now();
  const measureStart = start + opts.warmupSeconds * 1_000;
  const measureEnd = measureStart + opts.seconds * 1_000;
  const lat: number[] = [];
  const errors: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  const buckets = opts.bucketMs ? new Array<number>(Math.ceil((opts.seconds * 1_000) / opts.bucketMs)).fill(0) : undefined;
  let committed = 0;
  let completed = 0;
  let inFlight = 0;
  let lateCalls = 0;
  let windowClosed = false;
  let started = 0;
  let stoppedAt: number | undefined;
  const stopping = () => {
    if (stoppedAt !== undefined) return true;
    if ((opts.maxTransactions !== undefined && started >= opts.maxTransactions) || opts.stopWhen?.()) {
      stoppedAt = performance.now();
      return true;
    }
    return false;
  };

  const worker = async (w: number) => {
    let seq = 0;
    while (performance.now() < measureEnd && !stopping()) {
      started++;
      const t0 = performance.now();
      inFlight++;
      const out = await txn(w, seq++);
      inFlight--;
      const t1 = performance.now();
      if (t1 < measureStart || t1 > measureEnd) continue;
      completed++;
      if (out.code === grpc.status.OK) {
        committed++;
        lat.push(t1 - t0);
        if (out.status) statuses[out.status] = (statuses[out.status] ?? 0) + 1;
        if (buckets && opts.bucketMs) buckets[Math.min(buckets.length - 1, Math.floor((t1 - measureStart) / opts.bucketMs))]++;
      } else {
        const name = `${out.failedRpc ?? '?'}:${grpc.status[out.code] ?? `CODE_${out.code}`}`;
        errors[name] = (errors[name] ?? 0) + 1;
      }
    }
  };
  const openTimer = setTimeout(() => opts.onWindowStart?.(), Math.max(0, measureStart - performance.now()));
  const closeTimer = setTimeout(
    () => {
      windowClosed = true;
      lateCalls = inFlight;
    },
    measureEnd - performance.now(),
  );
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  clearTimeout(openTimer);
  clearTimeout(closeTimer);
  if (!windowClosed) lateCalls = 0;
  const latenciesMs = Float64Array.from(lat).sort();
  const windowSeconds = stoppedAt !== undefined && stoppedAt < measureEnd ? Math.max(0, stoppedAt - measureStart) / 1_000 : opts.seconds;
  return { committed, completed, latenciesMs, errors, statuses, windowSeconds, lateCalls, buckets };
}

// ---------------------------------------------------------------- transactions

export function branchSpecs(participantAddr: string, n: number): BranchSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    participant: participantAddr,
    action: i % 2 === 0 ? 'debit' : 'credit',
    payload: Buffer.from(JSON.stringify({ account: `A${i}`, amount: 1 })),
  }));
}

const codeOf = (err: grpc.ServiceError | null) => (err ? (err.code ?? grpc.status.UNKNOWN) : grpc.status.OK);

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;

/** A unary call as a promise of its code and answer; never rejects. */
function unary<Res>(
  call: (md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<Res>) => unknown,
  deadlineMs: number,
  md = new grpc.Metadata(),
): Promise<{ code: grpc.status; res?: Res }> {
  return new Promise((resolve) => {
    call(md, { deadline: Date.now() + deadlineMs }, (err, res) => resolve({ code: codeOf(err), res }));
  });
}

/** Clients for a coordinator: one per 64 workers. */
export class CoordinatorClients {
  readonly clients: CoordinatorClient[];

  constructor(addr: string, concurrency: number) {
    this.clients = Array.from({ length: Math.max(1, Math.ceil(concurrency / WORKERS_PER_CONNECTION)) }, () => makeCoordinatorClient(addr));
  }

  for(worker: number): CoordinatorClient {
    return this.clients[worker % this.clients.length];
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

export interface CoordinatorTxnOptions {
  flow: Flow;
  branches: BranchSpec[];
  wait: boolean;
  /** gid = prefix + worker + seq when set (the backlog scenario counts its own transactions by prefix). */
  gidPrefix?: string;
}

/** One transaction against the coordinator, by flow. */
export function coordinatorTxn(clients: CoordinatorClients, o: CoordinatorTxnOptions): (w: number, seq: number) => Promise<Outcome> {
  const deadlineMs = o.wait ? 20_000 : 10_000;
  if (o.flow === 'execute') {
    return async (w, seq) => {
      const c = clients.for(w);
      const req = { gid: o.gidPrefix ? `${o.gidPrefix}${w}-${seq}` : '', branches: o.branches, wait: o.wait };
      const r = await unary<Transaction__Output>((md, op, cb) => c.Execute(req, md, op, cb), deadlineMs);
      return r.code === grpc.status.OK ? { code: r.code, status: r.res?.status } : { failedRpc: 'Execute', code: r.code };
    };
  }
  return async (w, seq) => {
    const c = clients.for(w);
    const beginReq = { gid: o.gidPrefix ? `${o.gidPrefix}${w}-${seq}` : '' };
    const begin = await unary<BeginResponse__Output>((md, op, cb) => c.Begin(beginReq, md, op, cb), 10_000);
    const gid = begin.res?.gid;
    if (begin.code !== grpc.status.OK || !gid) return { failedRpc: 'Begin', code: begin.code || grpc.status.UNKNOWN };
    const tries = await Promise.all(o.branches.map((branch) => unary<TryResponse__Output>((md, op, cb) => c.Try({ gid, branch }, md, op, cb), 10_000)));
    const bad = tries.find((t) => t.code !== grpc.status.OK);
    if (bad) {
      // Leave nothing TRYING behind: the deadline would roll it back, but later, inside another window.
      await unary<Transaction__Output>((md, op, cb) => c.Rollback({ gid }, md, op, cb), 10_000);
      return { failedRpc: 'Try', code: bad.code };
    }
    const commit = await unary<Transaction__Output>((md, op, cb) => c.Commit({ gid, wait: o.wait }, md, op, cb), deadlineMs);
    return commit.code === grpc.status.OK ? { code: commit.code, status: commit.res?.status } : { failedRpc: 'Commit', code: commit.code };
  };
}

/** Clients straight to the participant (the baseline): one per 64 workers. */
export class ParticipantClients {
  readonly clients: ParticipantClient[];

  constructor(addr: string, concurrency: number) {
    const { grpcObject } = loadTccProto();
    this.clients = Array.from(
      { length: Math.max(1, Math.ceil(concurrency / WORKERS_PER_CONNECTION)) },
      () => new grpcObject.tcc.v1.Participant(addr, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
    );
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

/**
 * The baseline transaction: Try on every branch, then Confirm on every branch,
 * with the request and metadata the coordinator would send (tcc-gid,
 * tcc-branch-id, tcc-phase), but nothing stored anywhere.
 */
export function baselineTxn(clients: ParticipantClients, branches: BranchSpec[]): (w: number, seq: number) => Promise<Outcome> {
  const meta = (gid: string, branchId: string, phase: string) => {
    const md = new grpc.Metadata();
    md.set('tcc-gid', gid);
    md.set('tcc-branch-id', branchId);
    md.set('tcc-phase', phase);
    return md;
  };
  return async (w, seq) => {
    const c = clients.clients[w % clients.clients.length];
    const gid = `base-${w}-${seq}`;
    const reqs = branches.map((b, i) => ({ gid, branch_id: String(i + 1), action: b.action, payload: b.payload }));
    const tries = await Promise.all(reqs.map((r) => unary<BranchResponse__Output>((md, op, cb) => c.Try(r, md, op, cb), 5_000, meta(gid, r.branch_id, 'try'))));
    const badTry = tries.find((t) => t.code !== grpc.status.OK);
    if (badTry) return { failedRpc: 'Try', code: badTry.code };
    const confirms = await Promise.all(
      reqs.map((r) => unary<BranchResponse__Output>((md, op, cb) => c.Confirm(r, md, op, cb), 5_000, meta(gid, r.branch_id, 'confirm'))),
    );
    const badConfirm = confirms.find((t) => t.code !== grpc.status.OK);
    return badConfirm ? { failedRpc: 'Confirm', code: badConfirm.code } : { code: grpc.status.OK, status: 'CONFIRMED' };
  };
}
