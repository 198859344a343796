import * as grpc from '@grpc/grpc-js';
import { context, propagation, type TextMapSetter } from '@opentelemetry/api';

const metadataSetter: TextMapSetter<grpc.Metadata> = {
  set: (md, key, value) => md.set(key, value),
};

/**
 * Puts the active W3C trace context (traceparent, tracestate) into every
 * call's metadata, so the coordinator, and through it the participants,
 * continue the application's trace. Only @opentelemetry/api is used: without
 * an SDK registered by the application nothing is added. Metadata the
 * application set itself is left as it is.
 */
export const injectTraceContext: grpc.Interceptor = (options, nextCall) =>
  new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      if (metadata.get('traceparent').length === 0) propagation.inject(context.active(), metadata, metadataSetter);
      next(metadata, listener);
    },
  });
