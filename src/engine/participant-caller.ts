import * as grpc from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { contextFromTraceparent, traceparentFrom } from '../tracing/trace-context';
import { loadTccProto } from '../protocol/tcc-proto';
import type { ParticipantClient } from '../generated/tcc/v1/Participant';
import type { BranchResponse__Output } from '../generated/tcc/v1/BranchResponse';
import type { Phase } from '../domain/model';

/** How a participant call ended, by the contract's reading of gRPC statuses. */
export type CallOutcome = 'ok' | 'refused' | 'unknown';

export interface CallResult {
  outcome: CallOutcome;
  grpcCode: number;
  /** Status details (never the payload). */
  error: string;
  result: Buffer;
  startedAt: number;
  durationMs: number;
}

export interface ParticipantCall {
  target: string;
  phase: Phase;
  gid: string;
  branchId: string;
  action: string;
  payload: Buffer;
  timeoutMs: number;
  traceparent?: string;
}

/** Options of {@link ParticipantCaller}. */
export interface ParticipantCallerOptions {
  /** Channel options for every participant client. Default: keepalive every 30 s. */
  channelOptions?: grpc.ChannelOptions;
  /** Credentials of every participant channel. Default insecure (plaintext); TLS when the coordinator has a participant CA. */
  credentials?: grpc.ChannelCredentials;
  /** Clock for log timestamps. Default Date.now. */
  now?: () => number;
  /**
   * Most participant channels kept open. Default 1 024. Targets come from
   * callers, so the cache is bounded: past the limit the least recently used
   * channel is closed (a later call to it simply reconnects).
   */
  maxClients?: number;
}

/**
 * The error text recorded for a failed participant call, and returned to
 * clients (last_error, Try errors). It names the class of failure only:
 * echoing the remote's details would let a caller use the participant
 * field as a port scanner (grpc-js reports a non-gRPC service's HTTP status
 * line, a MySQL or Redis banner's effect, a reset...). A participant's own
 * refusal reason (ABORTED / FAILED_PRECONDITION from a Try) is the contract's
 * business "no" and is kept, shortened and without control characters.
 */
export function describeCallFailure(phase: Phase, err: grpc.ServiceError): string {
  const code = err.code ?? grpc.status.UNKNOWN;
  const name = grpc.status[code] ?? String(code);
  if (phase === 'try' && (code === grpc.status.ABORTED || code === grpc.status.FAILED_PRECONDITION)) {
    // eslint-disable-next-line no-control-regex
    const reason = (err.details || '').replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 200);
    // Same shape as before ("ABORTED: out of stock"): clients read the participant's words after the code.
    return reason ? `${name}: ${reason}` : `${name}: participant refused`;
  }
  switch (code) {
    case grpc.status.DEADLINE_EXCEEDED:
    case grpc.status.CANCELLED:
      return `${name}: participant timed out`;
    case grpc.status.UNAVAILABLE:
      return `${name}: participant unreachable`;
    case grpc.status.UNIMPLEMENTED:
      return `${name}: not a participant`;
    default:
      // INTERNAL / UNKNOWN also carry grpc-js's transport errors (an HTTP server's status, a protocol error).
      return `${name}: participant call failed`;
  }
}

const METHOD: Record<Phase, 'Try' | 'Confirm' | 'Cancel'> = { try: 'Try', confirm: 'Confirm', cancel: 'Cancel' };

/** Looked up per use: a tracer kept from before the SDK was (re)registered would stay a no-op. */
const tracer = () => trace.getTracer('tcc-coordinator');

/**
 * Calls participants: one gRPC client per target, reused for every call
 * (a channel per call would pay a TCP+HTTP/2 handshake each time), and a
 * deadline on every call.
 */
export class ParticipantCaller {
  private readonly clients = new Map<string, ParticipantClient>();
  private readonly now: () => number;

  constructor(private readonly options: ParticipantCallerOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  private clientFor(target: string): ParticipantClient {
    let c = this.clients.get(target);
    if (c) {
      // Map order is recency order: move the target to the end.
      this.clients.delete(target);
      this.clients.set(target, c);
    } else {
      const max = this.options.maxClients ?? 1_024;
      for (const [oldest, client] of this.clients) {
        if (this.clients.size < max) break;
        // Closing lets its in-flight calls finish; new calls get a new channel.
        client.close();
        this.clients.delete(oldest);
      }
      const Ctor = loadTccProto().grpcObject.tcc.v1.Participant;
      c = new Ctor(target, this.options.credentials ?? grpc.credentials.createInsecure(), {
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
        ...this.options.channelOptions,
      });
      this.clients.set(target, c);
    }
    return c;
  }

  call(req: ParticipantCall): Promise<CallResult> {
    const startedAt = this.now();
    // A client span per call, child of the transaction's context; the participant continues from it.
    const parent = contextFromTraceparent(req.traceparent);
    const span = tracer().startSpan(
      `tcc.v1.Participant/${METHOD[req.phase]}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'rpc.system': 'grpc',
          'rpc.service': 'tcc.v1.Participant',
          'rpc.method': METHOD[req.phase],
          'tcc.gid': req.gid,
          'tcc.branch_id': req.branchId,
          'tcc.phase': req.phase,
          'tcc.participant': req.target,
          'tcc.transport': 'unary',
        },
      },
      parent,
    );
    const traceparent = traceparentFrom(req.traceparent, trace.setSpan(parent, span));
    const md = new grpc.Metadata();
    md.set('tcc-gid', req.gid);
    md.set('tcc-branch-id', req.branchId);
    md.set('tcc-phase', req.phase);
    if (traceparent) md.set('traceparent', traceparent);
    const client = this.clientFor(req.target);
    const message = { gid: req.gid, branch_id: req.branchId, action: req.action, payload: req.payload };
    return new Promise<CallResult>((resolve) => {
      const done = (err: grpc.ServiceError | null, res?: BranchResponse__Output) => {
        const durationMs = this.now() - startedAt;
        span.setAttribute('rpc.grpc.status_code', err ? (err.code ?? grpc.status.UNKNOWN) : grpc.status.OK);
        if (err) span.setStatus({ code: SpanStatusCode.ERROR, message: grpc.status[err.code] ?? 'UNKNOWN' });
        span.end();
        if (!err) {
          resolve({ outcome: 'ok', grpcCode: 0, error: '', result: res?.result ?? Buffer.alloc(0), startedAt, durationMs });
          return;
        }
        const refused =
          req.phase === 'try' && (err.code === grpc.status.ABORTED || err.code === grpc.status.FAILED_PRECONDITION);
        resolve({
          outcome: refused ? 'refused' : 'unknown',
          grpcCode: err.code ?? grpc.status.UNKNOWN,
          error: describeCallFailure(req.phase, err),
          result: Buffer.alloc(0),
          startedAt,
          durationMs,
        });
      };
      client[METHOD[req.phase]](message, md, { deadline: Date.now() + req.timeoutMs }, done);
    });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
