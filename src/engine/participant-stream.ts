import * as grpc from '@grpc/grpc-js';
import type { BranchAnswer__Output } from '../generated/tcc/v1/BranchAnswer';
import type { BranchCall } from '../generated/tcc/v1/BranchCall';

/** How one call sent on a stream ended. */
export type StreamCallOutcome =
  /** The participant answered: `code` is a gRPC status with the unary call's meaning. */
  | { kind: 'answer'; code: number; message: string; result: Buffer }
  /** No answer by the call's deadline: outcome unknown. */
  | { kind: 'deadline' }
  /** The stream broke (error, end, reset, participant gone) before the answer: outcome unknown. */
  | { kind: 'broken' }
  /** The participant has no Calls method: UNIMPLEMENTED means no handler ran, so the call never ran. */
  | { kind: 'unimplemented' };

/** A call to send: the BranchCall without its call_id (the stream numbers its calls). */
export type StreamCallMessage = Omit<BranchCall, 'call_id'>;

interface Pending {
  resolve: (outcome: StreamCallOutcome) => void;
  timer: NodeJS.Timeout;
}

/** Options of {@link ParticipantStream}. */
export interface ParticipantStreamOptions {
  /** A stream with no call in flight for this long is half-closed, ms. */
  idleMs: number;
  /** Told once when the stream stops taking calls (closing, broken or ended). */
  onGone: (stream: ParticipantStream) => void;
}

/**
 * One open tcc.v1.Participant/Calls stream: numbers the calls sent on it,
 * matches answers to them by call_id, and settles every call exactly once.
 * Each call has its own deadline timer; an answer for a call_id that is not
 * pending (never sent, already answered, timed out) is ignored. When the
 * stream ends before a call is answered, the call's outcome is unknown,
 * except after UNIMPLEMENTED, which the participant answers before running
 * anything.
 */
export class ParticipantStream {
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private open = true;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Whether the participant answered anything on this stream: then it has Calls, and an UNIMPLEMENTED end is just a broken stream. */
  private answered = false;

  constructor(
    private readonly call: grpc.ClientDuplexStream<BranchCall, BranchAnswer__Output>,
    private readonly options: ParticipantStreamOptions,
  ) {
    call.on('data', (answer: BranchAnswer__Output) => this.onAnswer(answer));
    // grpc-js emits 'error' (non-OK) then 'status' (always): the status settles what is left.
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => this.onEnd(status.code));
    this.armIdle();
  }

  /** Still taking calls. */
  get usable(): boolean {
    return this.open;
  }

  /** Calls sent and not yet settled. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends one call; settles with its answer, or why there is none. Never rejects. */
  send(message: StreamCallMessage, timeoutMs: number): Promise<StreamCallOutcome> {
    if (!this.open) return Promise.resolve({ kind: 'broken' });
    const callId = String(this.nextId++);
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    return new Promise<StreamCallOutcome>((resolve) => {
      const timer = setTimeout(() => this.settle(callId, { kind: 'deadline' }), timeoutMs);
      this.pending.set(callId, { resolve, timer });
      try {
        this.call.write({ ...message, call_id: callId, timeout_ms: timeoutMs });
      } catch {
        // Written after the stream ended: nothing was sent, but the caller cannot tell that from a reset.
        this.settle(callId, { kind: 'broken' });
      }
    });
  }

  /** Half-closes: no more calls; those already sent keep their answers. */
  end(): void {
    if (!this.open) return;
    this.gone();
    try {
      this.call.end();
    } catch {
      // Already ended.
    }
  }

  /** Ends the stream now; pending calls are outcome unknown. */
  cancel(): void {
    this.gone();
    this.call.cancel();
  }

  private onAnswer(answer: BranchAnswer__Output): void {
    this.answered = true;
    // Unknown or repeated call_ids find nothing pending and are dropped.
    this.settle(String(answer.call_id), {
      kind: 'answer',
      code: answer.code,
      message: answer.message,
      result: answer.result ?? Buffer.alloc(0),
    });
  }

  private onEnd(code: grpc.status): void {
    this.gone();
    // Only a stream that never answered proves the method is missing (no call ran); after an answer, re-sending unary could run a call twice.
    const outcome: StreamCallOutcome = code === grpc.status.UNIMPLEMENTED && !this.answered ? { kind: 'unimplemented' } : { kind: 'broken' };
    for (const callId of [...this.pending.keys()]) this.settle(callId, outcome);
  }

  private settle(callId: string, outcome: StreamCallOutcome): void {
    const p = this.pending.get(callId);
    if (!p) return;
    this.pending.delete(callId);
    clearTimeout(p.timer);
    p.resolve(outcome);
    if (this.pending.size === 0) this.armIdle();
  }

  private armIdle(): void {
    if (!this.open || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.pending.size === 0) this.end();
    }, this.options.idleMs);
    // An idle stream must not keep the process alive.
    this.idleTimer.unref();
  }

  private gone(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (!this.open) return;
    this.open = false;
    this.options.onGone(this);
  }
}
