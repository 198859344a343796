import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import type { TransactionView } from '../engine/transaction-engine';

/** Looked up per use: a tracer kept from before the SDK was (re)registered would stay a no-op. */
const tracer = () => trace.getTracer('tcc-coordinator');

/**
 * Runs a call that drives a transaction (Execute, Commit, Rollback) inside a
 * `tcc.transaction` span, child of the call's span, so its participant calls
 * hang under it; the span carries the gid and the status it reached (a
 * no-op while tracing is off).
 */
export async function inTransactionSpan(gid: string, run: () => Promise<TransactionView>): Promise<TransactionView> {
  const span = tracer().startSpan('tcc.transaction', { attributes: gid ? { 'tcc.gid': gid } : {} });
  try {
    const view = await context.with(trace.setSpan(context.active(), span), run);
    span.setAttributes({ 'tcc.gid': view.txn.gid, 'tcc.status': view.txn.status, 'tcc.branches': view.branches.length });
    return view;
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
    throw err;
  } finally {
    span.end();
  }
}
