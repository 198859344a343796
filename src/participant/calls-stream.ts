import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { BranchAnswer } from '../generated/tcc/v1/BranchAnswer';
import type { BranchCall__Output } from '../generated/tcc/v1/BranchCall';
import type { BranchPhase } from './branch-call';
import type { CallRunner } from './call-runner';

/** Options of {@link serveCalls}. */
export interface ServeCallsOptions {
  /** Most calls of one stream running at once; beyond it RESOURCE_EXHAUSTED. Default 256. */
  maxInFlight?: number;
  logger: Logger;
}

export const DEFAULT_STREAM_CALLS_IN_FLIGHT = 256;

/** The Calls handler, and how to wind its streams down. */
export interface ServedCalls {
  handler: grpc.handleBidiStreamingCall<BranchCall__Output, BranchAnswer>;
  /**
   * Ends every stream once its calls in flight are answered, and every stream
   * opened from now on at once: a graceful server shutdown waits for open
   * streams, and a coordinator keeps its streams open as long as it is busy.
   */
  drain(): void;
}

// A Map, not an object: a hostile enum number must not find Object.prototype.
const PHASE_BY_WIRE: ReadonlyMap<unknown, BranchPhase> = new Map<unknown, BranchPhase>([
  ['TRY', 'try'],
  ['CONFIRM', 'confirm'],
  ['CANCEL', 'cancel'],
]);

/** The message's metadata map as the gRPC metadata a unary call would carry; keys gRPC would refuse are dropped. */
function metadataOf(map: Record<string, string> | null | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [key, value] of Object.entries(map ?? {})) {
    try {
      md.set(key, value);
    } catch {
      // An invalid key (or a -bin key with a text value): not something a coordinator sends.
    }
  }
  return md;
}

/**
 * Serves tcc.v1.Participant/Calls: every BranchCall runs concurrently through
 * the same {@link CallRunner} as the unary methods, and is answered by a
 * BranchAnswer with its call_id and the status the unary call would have
 * ended with. A malformed call (unknown phase, no request, a call_id already
 * in flight) is answered INVALID_ARGUMENT and the stream carries on; a call
 * beyond `maxInFlight` is answered RESOURCE_EXHAUSTED, so a caller cannot
 * make this process hold unbounded work. `timeout_ms` bounds a call like a
 * unary deadline: at it the call is answered DEADLINE_EXCEEDED and its late
 * result dropped. Half-close: the calls in flight are answered, then the
 * stream ends. Cancelled by the caller: nothing more is written.
 * A call that arrives after the stream started closing is answered
 * UNAVAILABLE without running (the caller calls again, on another stream).
 */
export function serveCalls(runner: CallRunner, options: ServeCallsOptions): ServedCalls {
  const maxInFlight = options.maxInFlight ?? DEFAULT_STREAM_CALLS_IN_FLIGHT;
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) throw new TypeError('maxStreamCallsInFlight must be an integer >= 1');
  const { logger } = options;
  const live = new Set<() => void>();
  let draining = false;
  const handler: grpc.handleBidiStreamingCall<BranchCall__Output, BranchAnswer> = (stream) => {
    const inFlight = new Set<string>();
    let halfClosed = false;
    let over = false;
    const drain = (): void => {
      halfClosed = true;
      endIfDone();
    };

    const write = (answer: BranchAnswer): boolean => {
      if (over) return false;
      try {
        stream.write(answer);
        return true;
      } catch {
        // The stream ended between the check and the write: nobody is left to answer.
        over = true;
        return false;
      }
    };
    const endIfDone = (): void => {
      if (halfClosed && inFlight.size === 0 && !over) {
        over = true;
        live.delete(drain);
        stream.end();
      }
    };
    const refuse = (callId: string, code: grpc.status, message: string): void => {
      logger.warn({ call_id: callId, code: grpc.status[code], reason: message }, 'stream call refused');
      write({ call_id: callId, code, message });
    };

    const handle = (msg: BranchCall__Output): void => {
      const callId = String(msg.call_id);
      if (inFlight.has(callId)) return refuse(callId, grpc.status.INVALID_ARGUMENT, 'call_id already in flight on this stream');
      const phase = PHASE_BY_WIRE.get(msg.phase);
      if (!phase) return refuse(callId, grpc.status.INVALID_ARGUMENT, 'unknown phase');
      const request = msg.request;
      if (!request) return refuse(callId, grpc.status.INVALID_ARGUMENT, 'missing request');
      if (inFlight.size >= maxInFlight) return refuse(callId, grpc.status.RESOURCE_EXHAUSTED, 'too many calls in flight on this stream');
      inFlight.add(callId);
      const timeoutMs = msg.timeout_ms;
      const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
      let answered = false;
      const answer = (outcome: 'result' | 'error', reply: BranchAnswer): void => {
        if (answered) {
          runner.late(phase, request, outcome);
          return;
        }
        answered = true;
        if (!write(reply)) runner.late(phase, request, outcome);
      };
      // Like grpc-js for a unary call: the caller hears DEADLINE_EXCEEDED at the deadline, whatever the handler does.
      const timer =
        deadline === Infinity
          ? undefined
          : setTimeout(() => {
              if (answered) return;
              answered = true;
              write({ call_id: callId, code: grpc.status.DEADLINE_EXCEEDED, message: 'Deadline exceeded' });
            }, timeoutMs);
      let pending: Promise<{ result?: Buffer | Uint8Array | string }>;
      try {
        pending = runner.run(phase, request, metadataOf(msg.metadata), deadline);
      } catch (err) {
        pending = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      pending
        .then(
          (res) => answer('result', { call_id: callId, code: grpc.status.OK, message: '', result: res.result ?? Buffer.alloc(0) }),
          (err: unknown) => {
            const failure = runner.fail(phase, request, err);
            answer('error', { call_id: callId, code: failure.code, message: failure.details });
          },
        )
        .finally(() => {
          clearTimeout(timer);
          inFlight.delete(callId);
          endIfDone();
        })
        .catch(() => undefined);
    };

    stream.on('data', (msg: BranchCall__Output) => {
      if (over) return;
      // Sent before the caller saw the stream end: never run, so the caller may safely call again.
      if (halfClosed) write({ call_id: String(msg.call_id), code: grpc.status.UNAVAILABLE, message: 'stream is closing' });
      else handle(msg);
    });
    stream.on('end', () => {
      halfClosed = true;
      endIfDone();
    });
    stream.on('cancelled', () => {
      over = true;
      live.delete(drain);
    });
    stream.on('error', () => {
      over = true;
      live.delete(drain);
    });
    live.add(drain);
    if (draining) drain();
  };
  return {
    handler,
    drain: () => {
      draining = true;
      for (const d of [...live]) d();
    },
  };
}
