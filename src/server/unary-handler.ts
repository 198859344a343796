import * as grpc from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { metadataGetter, traceparentFrom } from '../tracing/trace-context';
import { toGrpcFailure } from './status-mapping';
import { describeError } from '../log/describe-error';
import { refusalOf } from './request-limits';

/** Looked up per use: a tracer kept from before the SDK was (re)registered would stay a no-op. */
const tracer = () => trace.getTracer('tcc-coordinator');

/** Span attributes of a request: ids only, never payloads, reasons or operators. */
function idAttributes(request: unknown): Attributes {
  const r = request as { gid?: unknown; branch_id?: unknown; branch?: { branch_id?: unknown } | null };
  const attrs: Attributes = {};
  if (typeof r?.gid === 'string' && r.gid !== '') attrs['tcc.gid'] = r.gid.slice(0, 128);
  const branchId = r?.branch_id ?? r?.branch?.branch_id;
  if (typeof branchId === 'string' && branchId !== '') attrs['tcc.branch_id'] = branchId.slice(0, 128);
  return attrs;
}

/**
 * Adapts an async handler to grpc-js, which ignores a rejected promise (the
 * call would hang until its deadline): every outcome ends the call, errors
 * through the status mapping. Each call runs in a server span continuing
 * the caller's W3C trace context (a no-op while tracing is off).
 */
export function unary<Req, Res>(
  method: string,
  logger: Logger,
  handler: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const parent = propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter);
    const path = typeof call.getPath === 'function' ? call.getPath() : method;
    const span = tracer().startSpan(
      path.replace(/^\//, ''),
      {
        kind: SpanKind.SERVER,
        attributes: { 'rpc.system': 'grpc', 'rpc.method': method, ...idAttributes(call.request) },
      },
      parent,
    );
    const refused = refusalOf(call.request);
    (refused ? Promise.reject(refused) : context.with(trace.setSpan(parent, span), () => handler(call))).then(
      (res) => {
        span.setAttribute('rpc.grpc.status_code', grpc.status.OK);
        span.end();
        callback(null, res);
      },
      (err: unknown) => {
        const f = toGrpcFailure(err);
        if (f.code === grpc.status.INTERNAL || f.code === grpc.status.UNAVAILABLE) {
          logger.error({ method, err: describeError(err) }, 'call failed');
        }
        span.setAttribute('rpc.grpc.status_code', f.code);
        // The status name only: details can quote request values.
        span.setStatus({ code: SpanStatusCode.ERROR, message: grpc.status[f.code] });
        span.end();
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

/**
 * The traceparent the engine hands on to participants: the active span's
 * (this call's, or its transaction span) when tracing is on, else the
 * caller's own header unchanged.
 */
export function traceparentOf(call: grpc.ServerUnaryCall<unknown, unknown>): string | undefined {
  const v = call.metadata.get('traceparent')[0];
  const incoming = typeof v === 'string' && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(v) ? v : undefined;
  return traceparentFrom(incoming);
}
