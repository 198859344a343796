import * as grpc from '@grpc/grpc-js';
import { refusalOf } from './request-limits';
import { toGrpcFailure } from './status-mapping';

/**
 * Ends a call whose request the deserializer refused (request-limits) with
 * that refusal's status, before any handler sees it. Our own unary handlers
 * would do the same, but health, reflection and streaming handlers do not
 * know the marker; without this a malformed request to them would reach
 * their code as an empty object, or (a throwing deserializer) end as INTERNAL.
 */
export const refusalInterceptor: grpc.ServerInterceptor = (_method, call) => {
  let refused = false;
  const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onReceiveMessage: (message, pass) => {
          const err = refusalOf(message);
          if (!err) {
            pass(message);
            return;
          }
          if (refused) return;
          refused = true;
          const f = toGrpcFailure(err);
          intercepting.sendStatus({ code: f.code, details: f.details, metadata: new grpc.Metadata() });
        },
        // The refused call is over: its handler must not start on a half-close with no message.
        onReceiveHalfClose: (pass) => {
          if (!refused) pass();
        },
      }),
  });
  return intercepting;
};
