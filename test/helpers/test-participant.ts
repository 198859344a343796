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
import type { BranchAnswer } from '../../src/generated/tcc/v1/BranchAnswer';
import type { BranchCall__Output } from '../../src/generated/tcc/v1/BranchCall';

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
  /** How the call came: a unary Try/Confirm/Cancel or a message on the Calls stream. */
  transport: 'unary' | 'stream';
}

/** Options of {@link startTestParticipant}. */
export interface TestParticipantOptions {
  /** Serve only the unary methods (no Calls: grpc-js answers a stream UNIMPLEMENTED). Default false: both forms. */
  unaryOnly?: boolean;
}

/** Misbehaviour on the Calls stream, for the coordinator's tests. */
export interface StreamQuirks {
  /** Send every answer twice (the second with code INTERNAL). */
  duplicateAnswers?: boolean;
  /** Before every answer, send one for a call_id never used. */
  strayAnswers?: boolean;
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
  /** Calls streams opened on this participant (kept across restarts). */
  readonly streamsOpened: number;
  /** Misbehaviour on the Calls stream; default none. */
  quirks: StreamQuirks;
  /** Serve only the unary methods from the next {@link restart} on (or the opposite). */
  unaryOnly: boolean;
}

/** One call, whichever form it came in. */
interface Incoming {
  phase: Phase;
  req: BranchRequest__Output;
  metadata: (key: string) => string | undefined;
  deadline: number;
  transport: 'unary' | 'stream';
}

interface Answer {
  code: grpc.status;
  details: string;
  result: Buffer;
}

const STREAM_PHASES: ReadonlyMap<unknown, Phase> = new Map<unknown, Phase>([
  ['TRY', 'try'],
  ['CONFIRM', 'confirm'],
  ['CANCEL', 'cancel'],
]);

interface BehaviorEntry {
  behavior: Behavior;
  delayMs: number;
}

function firstString(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>): number {
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
  streamsOpened = 0;
  quirks: StreamQuirks = {};
  readonly calls: RecordedCall[] = [];
  running = false;
  private server: grpc.Server | undefined;
  private readonly defaults = new Map<Phase, BehaviorEntry>();
  private readonly perAction = new Map<string, BehaviorEntry>();
  private waiters = new Set<() => void>();
  private readonly active = new Map<Phase, number>();
  private readonly peak = new Map<Phase, number>();

  unaryOnly: boolean;

  constructor(options: TestParticipantOptions) {
    this.unaryOnly = options.unaryOnly ?? false;
  }

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
    const unary: Pick<ParticipantHandlers, 'Try' | 'Confirm' | 'Cancel'> = {
      Try: this.handler('try'),
      Confirm: this.handler('confirm'),
      Cancel: this.handler('cancel'),
    };
    // Without Calls, grpc-js answers a stream UNIMPLEMENTED: a participant from before streams.
    const handlers: grpc.UntypedServiceImplementation = this.unaryOnly ? unary : { ...unary, Calls: this.streamHandler() };
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
      const incoming: Incoming = {
        phase,
        req: call.request,
        metadata: (key) => firstString(call.metadata, key),
        deadline: deadlineOf(call),
        transport: 'unary',
      };
      this.handle(incoming).then(
        (answer) => {
          if (!answer) return;
          if (answer.code === grpc.status.OK) callback(null, { result: answer.result });
          else callback({ code: answer.code, details: answer.details });
        },
        (err: unknown) => {
          try {
            callback({ code: grpc.status.INTERNAL, details: `test participant failed: ${String(err)}` });
          } catch {
            // The call is already over; nothing to report to.
          }
        },
      );
    };
  }

  private streamHandler(): grpc.handleBidiStreamingCall<BranchCall__Output, BranchAnswer> {
    return (stream) => {
      this.streamsOpened++;
      let inFlight = 0;
      let halfClosed = false;
      let over = false;
      const write = (a: BranchAnswer): void => {
        if (over) return;
        try {
          stream.write(a);
        } catch {
          over = true;
        }
      };
      const endIfDone = (): void => {
        if (halfClosed && inFlight === 0 && !over) {
          over = true;
          stream.end();
        }
      };
      stream.on('data', (msg: BranchCall__Output) => {
        const phase = STREAM_PHASES.get(msg.phase);
        if (!phase || !msg.request) {
          write({ call_id: msg.call_id, code: grpc.status.INVALID_ARGUMENT, message: 'bad call' });
          return;
        }
        inFlight++;
        const incoming: Incoming = {
          phase,
          req: msg.request,
          metadata: (key) => msg.metadata[key],
          deadline: msg.timeout_ms > 0 ? Date.now() + msg.timeout_ms : Infinity,
          transport: 'stream',
        };
        this.handle(incoming)
          .then(
            (answer) => {
              if (!answer) return;
              const reply = { call_id: msg.call_id, code: answer.code, message: answer.details, result: answer.result };
              if (this.quirks.strayAnswers) write({ call_id: String(BigInt(msg.call_id) + 1_000_000n), code: grpc.status.ABORTED, message: 'stray' });
              write(reply);
              if (this.quirks.duplicateAnswers) write({ ...reply, code: grpc.status.INTERNAL, message: 'duplicate' });
            },
            (err: unknown) => write({ call_id: msg.call_id, code: grpc.status.INTERNAL, message: `test participant failed: ${String(err)}` }),
          )
          .finally(() => {
            inFlight--;
            endIfDone();
          })
          .catch(() => undefined);
      });
      stream.on('end', () => {
        halfClosed = true;
        endIfDone();
      });
      stream.on('cancelled', () => (over = true));
      stream.on('error', () => (over = true));
    };
  }

  /** Records the call and answers by the behaviour set for it; undefined: never answer ('hang'). */
  private async handle(incoming: Incoming): Promise<Answer | undefined> {
    const { phase, req } = incoming;
    const recorded: RecordedCall = {
      phase,
      gid: req.gid,
      branch_id: req.branch_id,
      action: req.action,
      payload: Buffer.from(req.payload ?? Buffer.alloc(0)),
      metadata: {
        'tcc-gid': incoming.metadata('tcc-gid'),
        'tcc-branch-id': incoming.metadata('tcc-branch-id'),
        'tcc-phase': incoming.metadata('tcc-phase'),
      },
      traceparent: incoming.metadata('traceparent'),
      at: Date.now(),
      deadline: incoming.deadline,
      transport: incoming.transport,
    };
    this.calls.push(recorded);
    for (const w of [...this.waiters]) w();

    const { behavior, delayMs } = this.behaviorFor(phase, req.action);
    if (behavior === 'hang') return undefined; // never answer: the caller's deadline fires
    const n = (this.active.get(phase) ?? 0) + 1;
    this.active.set(phase, n);
    this.peak.set(phase, Math.max(n, this.peak.get(phase) ?? 0));
    try {
      if (delayMs > 0) await sleep(delayMs);
    } finally {
      this.active.set(phase, (this.active.get(phase) ?? 1) - 1);
    }
    const fail = (code: grpc.status, details: string): Answer => ({ code, details, result: Buffer.alloc(0) });
    switch (behavior) {
      case 'ok':
        return { code: grpc.status.OK, details: '', result: Buffer.from(`${phase}-ok:${req.branch_id}`) };
      case 'refuse':
        return fail(grpc.status.ABORTED, `refused by test participant (${phase} ${req.action})`);
      case 'refuse-precondition':
        return fail(grpc.status.FAILED_PRECONDITION, `precondition refused by test participant (${phase})`);
      case 'unavailable':
        return fail(grpc.status.UNAVAILABLE, `test participant unavailable (${phase})`);
      case 'internal':
        return fail(grpc.status.INTERNAL, `test participant internal error (${phase})`);
    }
  }
}

/**
 * Starts a participant on 127.0.0.1 with a free port; every phase answers OK
 * until told otherwise. It serves the unary methods and the Calls stream
 * (unless `unaryOnly`), with the same behaviours on both.
 */
export async function startTestParticipant(options: TestParticipantOptions = {}): Promise<TestParticipant> {
  const p = new TestParticipantImpl(options);
  await p.start();
  return p;
}
