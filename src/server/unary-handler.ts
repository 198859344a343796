import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toGrpcFailure } from './status-mapping';
import { describeError } from '../log/describe-error';
import { refusalOf } from './request-limits';

/**
 * Adapts an async handler to grpc-js, which ignores a rejected promise (the
 * call would hang until its deadline): every outcome ends the call, errors
 * through the status mapping.
 */
export function unary<Req, Res>(
  method: string,
  logger: Logger,
  handler: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const refused = refusalOf(call.request);
    (refused ? Promise.reject(refused) : handler(call)).then(
      (res) => callback(null, res),
      (err: unknown) => {
        const f = toGrpcFailure(err);
        if (f.code === grpc.status.INTERNAL || f.code === grpc.status.UNAVAILABLE) {
          logger.error({ method, err: describeError(err) }, 'call failed');
        }
        callback({ code: f.code, details: f.details, metadata: new grpc.Metadata() });
      },
    );
  };
}

/** The call's deadline as epoch ms, or undefined when the caller set none. */
export function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>): number | undefined {
  const d = call.getDeadline();
  if (d instanceof Date) return d.getTime();
  return Number.isFinite(d) ? Number(d) : undefined;
}

export function traceparentOf(call: grpc.ServerUnaryCall<unknown, unknown>): string | undefined {
  const v = call.metadata.get('traceparent')[0];
  return typeof v === 'string' && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(v) ? v : undefined;
}
