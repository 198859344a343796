import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { traceparentFrom } from './trace-context';

/** Looked up per use: a tracer kept from before the SDK was (re)registered would stay a no-op. */
const tracer = () => trace.getTracer('tcc-coordinator');

/** A span around one recovery round of a transaction. */
export interface RoundSpan {
  /** Context for the round's participant calls (undefined while tracing is off). */
  readonly traceparent: string | undefined;
  end(): void;
}

/**
 * Recovery rounds (retries, takeovers, operator replays) run with no
 * caller's context: each gets a root `tcc.recovery.round` span with the gid,
 * so its participant calls are grouped under it instead of each starting a
 * trace of its own. A no-op while tracing is off.
 */
export function startRecoveryRoundSpan(gid: string, phase: string): RoundSpan {
  const span = tracer().startSpan('tcc.recovery.round', { root: true, attributes: { 'tcc.gid': gid, 'tcc.phase': phase } }, ROOT_CONTEXT);
  return { traceparent: traceparentFrom(undefined, trace.setSpan(ROOT_CONTEXT, span)), end: () => span.end() };
}
