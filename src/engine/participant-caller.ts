import * as grpc from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { contextFromTraceparent, traceparentFrom } from '../tracing/trace-context';
import { loadTccProto } from '../protocol/tcc-proto';
import type { ParticipantClient } from '../generated/tcc/v1/Participant';
import type { BranchResponse__Output } from '../generated/tcc/v1/BranchResponse';
import type { Phase } from '../domain/model';
import { PARTICIPANT_MESSAGE_MAX } from '../domain/state-machine';
import { TargetStreams } from './target-streams';
import type { StreamCallMessage } from './participant-stream';

/** How the coordinator sends Try/Confirm/Cancel: `stream` (Participant.Calls, unary for participants without it) or `unary`. */
export type ParticipantTransport = 'stream' | 'unary';

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
  /** How the call went: on a Calls stream, or unary (by choice, or after a participant without Calls). */
  transport: ParticipantTransport;
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
  /** `stream` (default): calls go as messages on long-lived Calls streams, unary for a participant without them. `unary`: never streams. */
  transport?: ParticipantTransport;
  /** Calls streams kept open per target; calls are spread over them (and so over the target's addresses). Default 4. */
  streamsPerTarget?: number;
  /** Most calls in flight on one stream; when every stream of a target is full, a call goes unary. Default 128. */
  maxCallsPerStream?: number;
  /** A stream with no call in flight for this long is closed, ms. Default 60 000. */
  streamIdleMs?: number;
  /** After a participant answered a stream UNIMPLEMENTED, how long its target is called unary before a stream is tried again, ms. Default 60 000. */
  streamReprobeMs?: number;
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
export function describeCallFailure(phase: Phase, err: Pick<grpc.ServiceError, 'code' | 'details'>): string {
  const code = err.code ?? grpc.status.UNKNOWN;
  const name = grpc.status[code] ?? String(code);
  if (phase === 'try' && (code === grpc.status.ABORTED || code === grpc.status.FAILED_PRECONDITION)) {
    // eslint-disable-next-line no-control-regex
    const reason = (err.details || '').replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, PARTICIPANT_MESSAGE_MAX);
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
const WIRE_PHASE: Record<Phase, 'TRY' | 'CONFIRM' | 'CANCEL'> = { try: 'TRY', confirm: 'CONFIRM', cancel: 'CANCEL' };

/** A call's status, whichever transport carried it. */
interface Reply {
  code: grpc.status;
  details: string;
  result: Buffer;
}

/** Every participant channel balances over all the addresses its target resolves to (a stream pins to one). */
const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/** Looked up per use: a tracer kept from before the SDK was (re)registered would stay a no-op. */
const tracer = () => trace.getTracer('tcc-coordinator');

/**
 * Calls participants: one gRPC client per target, reused for every call
 * (a channel per call would pay a TCP+HTTP/2 handshake each time), and a
 * deadline on every call. With the `stream` transport (the default) calls
 * are messages on a few long-lived Participant.Calls streams per target
 * (~15 µs of CPU each instead of ~100 µs for a unary call); a participant
 * without Calls is called unary, and probed again every `streamReprobeMs`.
 */
export class ParticipantCaller {
  private readonly clients = new Map<string, { client: ParticipantClient; streams: TargetStreams }>();
  private readonly now: () => number;

  constructor(private readonly options: ParticipantCallerOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  private entryFor(target: string): { client: ParticipantClient; streams: TargetStreams } {
    let c = this.clients.get(target);
    if (c) {
      // Map order is recency order: move the target to the end.
      this.clients.delete(target);
      this.clients.set(target, c);
    } else {
      const max = this.options.maxClients ?? 1_024;
      for (const [oldest, entry] of this.clients) {
        if (this.clients.size < max) break;
        // Closing lets its in-flight calls finish (streams are half-closed); new calls get a new channel.
        entry.streams.end();
        entry.client.close();
        this.clients.delete(oldest);
      }
      const Ctor = loadTccProto().grpcObject.tcc.v1.Participant;
      const client = new Ctor(target, this.options.credentials ?? grpc.credentials.createInsecure(), {
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
        'grpc.service_config': ROUND_ROBIN,
        ...this.options.channelOptions,
      });
      const streams = new TargetStreams(client, {
        streamsPerTarget: this.options.streamsPerTarget ?? 4,
        maxCallsPerStream: this.options.maxCallsPerStream ?? 128,
        idleMs: this.options.streamIdleMs ?? 60_000,
        reprobeMs: this.options.streamReprobeMs ?? 60_000,
      });
      c = { client, streams };
      this.clients.set(target, c);
    }
    return c;
  }

  async call(req: ParticipantCall): Promise<CallResult> {
    const startedAt = this.now();
    const deadline = Date.now() + req.timeoutMs;
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
        },
      },
      parent,
    );
    const traceparent = traceparentFrom(req.traceparent, trace.setSpan(parent, span));
    const metadata: Record<string, string> = { 'tcc-gid': req.gid, 'tcc-branch-id': req.branchId, 'tcc-phase': req.phase };
    if (traceparent) metadata.traceparent = traceparent;
    const request = { gid: req.gid, branch_id: req.branchId, action: req.action, payload: req.payload };
    let transport: ParticipantTransport = 'unary';
    let reply: Reply;
    try {
      const entry = this.entryFor(req.target);
      const stream = this.options.transport === 'unary' ? undefined : entry.streams.pick();
      if (stream) {
        transport = 'stream';
        const message: StreamCallMessage = { phase: WIRE_PHASE[req.phase], request, metadata };
        const outcome = await stream.send(message, req.timeoutMs);
        switch (outcome.kind) {
          case 'answer':
            reply = { code: outcome.code, details: outcome.message, result: outcome.result };
            break;
          case 'deadline':
            reply = { code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded', result: Buffer.alloc(0) };
            break;
          case 'broken':
            reply = { code: grpc.status.UNAVAILABLE, details: 'stream broken', result: Buffer.alloc(0) };
            break;
          case 'unimplemented':
            // No handler ran for UNIMPLEMENTED: send the same call unary, within what is left of its deadline.
            entry.streams.useUnary();
            transport = 'unary';
            reply = await this.callUnary(entry.client, req.phase, request, metadata, deadline);
            break;
        }
      } else {
        reply = await this.callUnary(entry.client, req.phase, request, metadata, deadline);
      }
    } catch {
      // A channel that refuses to start a call (closed under us): nothing was sent.
      reply = { code: grpc.status.UNAVAILABLE, details: 'call not started', result: Buffer.alloc(0) };
    }
    const durationMs = this.now() - startedAt;
    span.setAttribute('tcc.transport', transport);
    span.setAttribute('rpc.grpc.status_code', reply.code);
    if (reply.code !== grpc.status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: grpc.status[reply.code] ?? 'UNKNOWN' });
    span.end();
    if (reply.code === grpc.status.OK) {
      return { outcome: 'ok', grpcCode: 0, error: '', result: reply.result, startedAt, durationMs, transport };
    }
    const refused = req.phase === 'try' && (reply.code === grpc.status.ABORTED || reply.code === grpc.status.FAILED_PRECONDITION);
    return {
      outcome: refused ? 'refused' : 'unknown',
      grpcCode: reply.code,
      error: describeCallFailure(req.phase, reply),
      result: Buffer.alloc(0),
      startedAt,
      durationMs,
      transport,
    };
  }

  private callUnary(
    client: ParticipantClient,
    phase: Phase,
    request: { gid: string; branch_id: string; action: string; payload: Buffer },
    metadata: Record<string, string>,
    deadline: number,
  ): Promise<Reply> {
    const md = new grpc.Metadata();
    for (const [key, value] of Object.entries(metadata)) md.set(key, value);
    return new Promise<Reply>((resolve) => {
      client[METHOD[phase]](request, md, { deadline }, (err: grpc.ServiceError | null, res?: BranchResponse__Output) => {
        if (err) resolve({ code: err.code ?? grpc.status.UNKNOWN, details: err.details ?? '', result: Buffer.alloc(0) });
        else resolve({ code: grpc.status.OK, details: '', result: res?.result ?? Buffer.alloc(0) });
      });
    });
  }

  /** Closes every channel; streams are half-closed, so calls already sent keep their answers. */
  close(): void {
    for (const c of this.clients.values()) {
      c.streams.end();
      c.client.close();
    }
    this.clients.clear();
  }
}
