/**
 * A real tcc.v1.Participant gRPC server for integration tests.
 *
 * It records every call it receives and answers according to behaviours set
 * at runtime, per phase and optionally per action, so a test can make one
 * participant refuse a Try, fail a Confirm, hang past the coordinator's
 * deadline, or be down (stopped) and come back (restarted on the same port).
 */
import * as grpc from '@grpc/grpc-js';
import { loadTccProto } from '../../src/protocol/tcc-proto';
import type { ParticipantHandlers } from '../../src/generated/tcc/v1/Participant';
import type { BranchRequest__Output } from '../../src/generated/tcc/v1/BranchRequest';
import type { BranchResponse } from '../../src/generated/tcc/v1/BranchResponse';

export type Phase = 'try' | 'confirm' | 'cancel';

/**
 * - ok: answer OK (Try's result is `try-ok:<branch_id>`)
 * - refuse: ABORTED (a business "no")
 * - refuse-precondition: FAILED_PRECONDITION (also a refusal for a Try)
 * - unavailable: UNAVAILABLE
 * - internal: INTERNAL
 * - hang: never answer (the caller's deadline fires)
 */
export type Behavior = 'ok' | 'refuse' | 'refuse-precondition' | 'unavailable' | 'internal' | 'hang';

export interface BehaviorOptions {
  /** Only for calls with this action; without it, the phase's default behaviour. */
  action?: string;
  /** Wait this long before answering (ignored by 'hang'). */
  delayMs?: number;
}

export interface RecordedCall {
  phase: Phase;
  gid: string;
  branch_id: string;
  action: string;
  payload: Buffer;
  metadata: {
    'tcc-gid': string | undefined;
    'tcc-branch-id': string | undefined;
    'tcc-phase': string | undefined;
  };
  /** W3C traceparent metadata, when the coordinator sent one. */
  traceparent: string | undefined;
  /** Date.now() when the call arrived. */
  at: number;
  /** The call's deadline in epoch ms (Infinity when the caller set none). */
  deadline: number;
}

export interface TestParticipant {
  /** `127.0.0.1:PORT`, stable across {@link TestParticipant.restart}. */
  readonly target: string;
  readonly port: number;
  /** Every call received, oldest first (kept across restarts). */
  readonly calls: readonly RecordedCall[];
  /** Calls being answered right now (in their delay), per phase; hanging calls are not counted. */
  inFlight(phase: Phase): number;
  /** Most calls of `phase` handled at once since the last {@link resetMaxInFlight}. */
  maxInFlight(phase: Phase): number;
  resetMaxInFlight(): void;
  callsFor(phase: Phase, gid?: string): RecordedCall[];
  setBehavior(phase: Phase, behavior: Behavior, options?: BehaviorOptions): void;
  /** Every phase back to 'ok' without delay, per-action behaviours removed. Calls are kept. */
  resetBehaviors(): void;
  clearCalls(): void;
  /**
   * Resolves with the matching calls once at least `count` calls match;
   * rejects after `timeoutMs` with what was seen.
   */
  waitForCalls(predicate: (call: RecordedCall) => boolean, timeoutMs?: number, count?: number): Promise<RecordedCall[]>;
  /** forceShutdown: the port is closed, hanging calls are dropped. */
  stop(): Promise<void>;
  /** Serves again on the same port. */
  restart(): Promise<void>;
  readonly running: boolean;
}

interface BehaviorEntry {
  behavior: Behavior;
  delayMs: number;
}

function firstString(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

function deadlineMs(call: grpc.ServerUnaryCall<unknown, unknown>): number {
  const d = call.getDeadline();
  if (d instanceof Date) return d.getTime();
  return d;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(err);
      else resolve(port);
    });
  });
}

class TestParticipantImpl implements TestParticipant {
  port = 0;
  readonly calls: RecordedCall[] = [];
  running = false;
  private server: grpc.Server | undefined;
  private readonly defaults = new Map<Phase, BehaviorEntry>();
  private readonly perAction = new Map<string, BehaviorEntry>();
  private waiters = new Set<() => void>();
  private readonly active = new Map<Phase, number>();
  private readonly peak = new Map<Phase, number>();

  inFlight(phase: Phase): number {
    return this.active.get(phase) ?? 0;
  }

  maxInFlight(phase: Phase): number {
    return this.peak.get(phase) ?? 0;
  }

  resetMaxInFlight(): void {
    this.peak.clear();
    for (const [phase, n] of this.active) this.peak.set(phase, n);
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  callsFor(phase: Phase, gid?: string): RecordedCall[] {
    return this.calls.filter((c) => c.phase === phase && (gid === undefined || c.gid === gid));
  }

  setBehavior(phase: Phase, behavior: Behavior, options: BehaviorOptions = {}): void {
    const entry = { behavior, delayMs: options.delayMs ?? 0 };
    if (options.action !== undefined) this.perAction.set(`${phase}\u0000${options.action}`, entry);
    else this.defaults.set(phase, entry);
  }

  resetBehaviors(): void {
    this.defaults.clear();
    this.perAction.clear();
  }

  clearCalls(): void {
    this.calls.length = 0;
  }

  waitForCalls(predicate: (call: RecordedCall) => boolean, timeoutMs = 5000, count = 1): Promise<RecordedCall[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const matching = this.calls.filter(predicate);
        if (matching.length >= count) {
          resolve(matching);
          return true;
        }
        return false;
      };
      if (check()) return;
      const waiter = (): void => {
        if (check()) {
          clearTimeout(timer);
          this.waiters.delete(waiter);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const seen = this.calls.map((c) => `${c.phase} ${c.gid}/${c.branch_id} ${c.action}`).slice(-20);
        reject(
          new Error(
            `participant ${this.target}: expected ${count} matching call(s) within ${timeoutMs} ms, ` +
              `got ${this.calls.filter(predicate).length}; last calls seen: [${seen.join('; ')}]`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  async start(): Promise<void> {
    const server = new grpc.Server();
    const { grpcObject } = loadTccProto();
    const handlers: ParticipantHandlers = {
      Try: this.handler('try'),
      Confirm: this.handler('confirm'),
      Cancel: this.handler('cancel'),
    };
    server.addService(grpcObject.tcc.v1.Participant.service, handlers);
    const port = await bind(server, `127.0.0.1:${this.port}`);
    this.port = port;
    this.server = server;
    this.running = true;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.running = false;
    if (server) server.forceShutdown();
    // Let the closed listener and connections settle before anyone reconnects.
    await sleep(20);
  }

  async restart(): Promise<void> {
    if (this.running) await this.stop();
    // The port was just released; retry briefly in case the OS is slow to free it.
    let lastErr: unknown;
    for (let i = 0; i < 20; i++) {
      try {
        await this.start();
        return;
      } catch (err) {
        lastErr = err;
        await sleep(50);
      }
    }
    throw new Error(`participant could not rebind 127.0.0.1:${this.port}: ${String(lastErr)}`);
  }

  private behaviorFor(phase: Phase, action: string): BehaviorEntry {
    return this.perAction.get(`${phase}\u0000${action}`) ?? this.defaults.get(phase) ?? { behavior: 'ok', delayMs: 0 };
  }

  private handler(phase: Phase): grpc.handleUnaryCall<BranchRequest__Output, BranchResponse> {
    return (call, callback) => {
      this.handle(phase, call, callback).catch((err: unknown) => {
        try {
          callback({ code: grpc.status.INTERNAL, details: `test participant failed: ${String(err)}` });
        } catch {
          // The call is already over; nothing to report to.
        }
      });
    };
  }

  private async handle(
    phase: Phase,
    call: grpc.ServerUnaryCall<BranchRequest__Output, BranchResponse>,
    callback: grpc.sendUnaryData<BranchResponse>,
  ): Promise<void> {
    const req = call.request;
    const recorded: RecordedCall = {
      phase,
      gid: req.gid,
      branch_id: req.branch_id,
      action: req.action,
      payload: Buffer.from(req.payload ?? Buffer.alloc(0)),
      metadata: {
        'tcc-gid': firstString(call.metadata, 'tcc-gid'),
        'tcc-branch-id': firstString(call.metadata, 'tcc-branch-id'),
        'tcc-phase': firstString(call.metadata, 'tcc-phase'),
      },
      traceparent: firstString(call.metadata, 'traceparent'),
      at: Date.now(),
      deadline: deadlineMs(call),
    };
    this.calls.push(recorded);
    for (const w of [...this.waiters]) w();

    const { behavior, delayMs } = this.behaviorFor(phase, req.action);
    if (behavior === 'hang') return; // never answer: the caller's deadline fires
    const n = (this.active.get(phase) ?? 0) + 1;
    this.active.set(phase, n);
    this.peak.set(phase, Math.max(n, this.peak.get(phase) ?? 0));
    try {
      if (delayMs > 0) await sleep(delayMs);
    } finally {
      this.active.set(phase, (this.active.get(phase) ?? 1) - 1);
    }
    switch (behavior) {
      case 'ok':
        callback(null, { result: Buffer.from(`${phase}-ok:${req.branch_id}`) });
        return;
      case 'refuse':
        callback({ code: grpc.status.ABORTED, details: `refused by test participant (${phase} ${req.action})` });
        return;
      case 'refuse-precondition':
        callback({ code: grpc.status.FAILED_PRECONDITION, details: `precondition refused by test participant (${phase})` });
        return;
      case 'unavailable':
        callback({ code: grpc.status.UNAVAILABLE, details: `test participant unavailable (${phase})` });
        return;
      case 'internal':
        callback({ code: grpc.status.INTERNAL, details: `test participant internal error (${phase})` });
        return;
    }
  }
}

/** Starts a participant on 127.0.0.1 with a free port; every phase answers OK until told otherwise. */
export async function startTestParticipant(): Promise<TestParticipant> {
  const p = new TestParticipantImpl();
  await p.start();
  return p;
}
