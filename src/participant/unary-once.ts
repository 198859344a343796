import type * as grpc from '@grpc/grpc-js';

/** A failed call's status, as given to the grpc-js callback. */
export interface UnaryFailure {
  readonly code: grpc.status;
  readonly details: string;
}

/** The call's deadline, epoch ms (Infinity when the caller set none). */
export function deadlineMs(call: grpc.ServerUnaryCall<unknown, unknown>): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : Number(d);
}

/**
 * Adapts an async handler to grpc-js, which ignores a rejected promise (the
 * call would hang until its deadline). The call is answered at most once, and
 * not at all when it already ended: a handler still running when its
 * deadline passes (grpc-js answers DEADLINE_EXCEEDED itself) or after the
 * client cancelled. `onLate` hears of such a dropped answer, so the work that
 * finished unseen can be logged.
 */
export function unaryOnce<Req, Res>(
  run: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
  toFailure: (err: unknown, call: grpc.ServerUnaryCall<Req, Res>) => UnaryFailure,
  onLate: (call: grpc.ServerUnaryCall<Req, Res>, outcome: 'result' | 'error') => void,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let answered = false;
    const answer = (outcome: 'result' | 'error', send: () => void): void => {
      if (answered) return;
      answered = true;
      // Past the deadline grpc-js's own timer answers DEADLINE_EXCEEDED (or is about to): not us as well.
      if (call.cancelled || Date.now() >= deadlineMs(call)) {
        onLate(call, outcome);
        return;
      }
      try {
        send();
      } catch {
        // The call ended between the check and the send: nobody is left to answer.
      }
    };
    let pending: Promise<Res>;
    try {
      pending = run(call);
    } catch (err) {
      // A handler that throws before returning its promise is answered like one that rejects.
      pending = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    pending.then(
      (res) => answer('result', () => callback(null, res)),
      (err: unknown) => {
        const failure = toFailure(err, call);
        answer('error', () => callback({ code: failure.code, details: failure.details }));
      },
    );
  };
}
