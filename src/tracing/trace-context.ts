import type * as grpc from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, trace, type Context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';

/** Reads W3C trace context (traceparent, tracestate) from gRPC metadata. */
export const metadataGetter: TextMapGetter<grpc.Metadata> = {
  get(md, key) {
    const v = md.get(key);
    return v.length === 0 ? undefined : v.map(String);
  },
  keys: (md) => Object.keys(md.getMap()),
};

/** Writes W3C trace context into gRPC metadata. */
export const metadataSetter: TextMapSetter<grpc.Metadata> = {
  set: (md, key, value) => md.set(key, value),
};

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The context a `traceparent` header names (the root context when none; tracing off: nothing to extract). */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/**
 * The `traceparent` to hand on from `ctx` (default: the active context):
 * its span's, when tracing is on and a span is active; else `fallback`
 * (with tracing off, the caller's header travels on unchanged).
 */
export function traceparentFrom(fallback: string | undefined, ctx: Context = context.active()): string | undefined {
  if (!trace.getSpan(ctx)?.spanContext()) return fallback;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  const tp = carrier.traceparent;
  return tp && TRACEPARENT.test(tp) ? tp : fallback;
}
