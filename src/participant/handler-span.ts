import type * as grpc from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type TextMapGetter } from '@opentelemetry/api';
import type { BranchPhase } from './branch-call';

const METHOD: Record<BranchPhase, string> = { try: 'Try', confirm: 'Confirm', cancel: 'Cancel' };

const metadataGetter: TextMapGetter<grpc.Metadata> = {
  get(md, key) {
    const v = md.get(key);
    return v.length === 0 ? undefined : v.map(String);
  },
  keys: (md) => Object.keys(md.getMap()),
};

/**
 * Runs a branch handler inside a server span started from the coordinator's
 * W3C trace context (the `traceparent` metadata), so the business code's own
 * spans (database, HTTP) join the transaction's trace. Only
 * @opentelemetry/api is used: without an SDK registered by the application
 * this is a no-op. Attributes are ids and the action name, never the payload.
 */
export function inHandlerSpan<T>(
  phase: BranchPhase,
  call: { metadata: grpc.Metadata; request: { gid: string; branch_id: string; action: string } },
  run: () => Promise<T>,
): Promise<T> {
  const parent = propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter);
  const span = trace.getTracer('tcc-participant').startSpan(
    `tcc.v1.Participant/${METHOD[phase]}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'rpc.system': 'grpc',
        'rpc.service': 'tcc.v1.Participant',
        'rpc.method': METHOD[phase],
        'tcc.gid': String(call.request.gid).slice(0, 128),
        'tcc.branch_id': String(call.request.branch_id).slice(0, 128),
        'tcc.action': String(call.request.action).slice(0, 128),
      },
    },
    parent,
  );
  return context.with(trace.setSpan(parent, span), run).then(
    (v) => {
      span.end();
      return v;
    },
    (err: unknown) => {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
      span.end();
      throw err;
    },
  );
}
