import type * as grpc from '@grpc/grpc-js';
import { Reader } from 'protobufjs/minimal';
import { InvalidArgumentError } from '../engine/errors';
import { MAX_ID_LENGTH, MAX_TARGET_LENGTH } from '../engine/validation';
import { requestTypeOf } from './request-schema';
import { wireProblem } from './wire-check';

/** A request over its method's size limit: refused before it is decoded. */
export class RequestTooLargeError extends Error {
  constructor(readonly method: string, readonly why: string) {
    super(`${method} request refused: ${why}`);
    this.name = 'RequestTooLargeError';
  }
}

/** What one method may receive. */
export interface MethodLimit {
  /** Largest encoded request in bytes. */
  maxBytes: number;
  /** Most entries of a top-level repeated field, by field number. */
  maxRepeated?: Readonly<Record<number, RepeatedLimit>>;
}

/** Bound of one repeated field. */
export interface RepeatedLimit {
  /** The field's name in errors. */
  name: string;
  max: number;
  /** A packed scalar list (proto3 repeated enum/int): entries are counted inside the field. */
  packed?: boolean;
}

/** Options of {@link createRequestLimits}. */
export interface RequestLimitsOptions {
  /** Largest branch payload (TCC_MAX_PAYLOAD_BYTES). */
  maxPayloadBytes: number;
  /** Most branches of one transaction (TCC_MAX_BRANCHES). */
  maxBranches: number;
}

/** Room for the small fields of a request (gid, timeouts, flags, reason/operator texts) and tag/length bytes. */
const SMALL_REQUEST_BYTES = 8 * 1024;
/** Tag and length bytes of one embedded field, generously. */
const FIELD_OVERHEAD = 16;
/** Distinct transaction statuses: a longer `statuses` list is only repetition. */
const MAX_STATUS_FILTERS = 16;

/**
 * Per-method request limits derived from the configured maximums: a method
 * gets room for what it can legitimately carry and no more, so a caller
 * cannot make the server buffer and decode megabytes for a Begin, nor
 * millions of empty BranchSpecs for an Execute.
 */
export function createRequestLimits(o: RequestLimitsOptions): Record<string, MethodLimit> {
  const branchSpec = MAX_ID_LENGTH + MAX_TARGET_LENGTH + MAX_ID_LENGTH + o.maxPayloadBytes + 4 * FIELD_OVERHEAD;
  const small: MethodLimit = { maxBytes: SMALL_REQUEST_BYTES };
  return {
    '/tcc.v1.Coordinator/Begin': small,
    '/tcc.v1.Coordinator/Try': { maxBytes: SMALL_REQUEST_BYTES + branchSpec },
    '/tcc.v1.Coordinator/Commit': small,
    '/tcc.v1.Coordinator/Rollback': small,
    '/tcc.v1.Coordinator/Execute': {
      maxBytes: SMALL_REQUEST_BYTES + o.maxBranches * (branchSpec + FIELD_OVERHEAD),
      maxRepeated: { 3: { name: 'branches', max: o.maxBranches } },
    },
    '/tcc.v1.Coordinator/GetTransaction': small,
    '/tcc.v1.Admin/ListTransactions': { maxBytes: SMALL_REQUEST_BYTES, maxRepeated: { 1: { name: 'statuses', max: MAX_STATUS_FILTERS, packed: true } } },
    '/tcc.v1.Admin/RetryTransaction': small,
    '/tcc.v1.Admin/GetTransaction': small,
    '/tcc.v1.Admin/Abort': small,
    '/tcc.v1.Admin/ResolveBranch': small,
  };
}

/** The largest request any limited method accepts: the server-wide receive limit. */
export function largestRequest(limits: Record<string, MethodLimit>): number {
  return Math.max(...Object.values(limits).map((l) => l.maxBytes));
}

const REFUSED = Symbol('refused request');

/** What a limiting deserializer returns instead of a decoded request. */
interface RefusedRequest {
  readonly [REFUSED]: RequestTooLargeError | InvalidArgumentError;
}

/** The refusal, when the deserializer refused this request (the handler turns it into a status). */
export function refusalOf(request: unknown): RequestTooLargeError | InvalidArgumentError | undefined {
  return typeof request === 'object' && request !== null && REFUSED in request ? (request as RefusedRequest)[REFUSED] : undefined;
}

/**
 * Counts the entries of each limited top-level field by walking the wire
 * format (tags and lengths only, nothing decoded); stops at the first field
 * over its limit, which it returns.
 */
function overRepeated(buf: Buffer, maxRepeated: Readonly<Record<number, RepeatedLimit>>): number | undefined {
  const counts = new Map<number, number>();
  const reader = Reader.create(buf);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    const limit = maxRepeated[field];
    if (limit === undefined) {
      reader.skipType(wireType);
      continue;
    }
    let n = 1;
    if (wireType === 2 && limit.packed) {
      // A packed list of varints: one entry per byte with the high bit clear.
      const end = reader.uint32() + reader.pos;
      if (end > reader.len) return undefined; // truncated: the real decoder reports it
      n = 0;
      for (let i = reader.pos; i < end; i++) if ((buf[i] & 0x80) === 0) n++;
      reader.pos = end;
    } else {
      reader.skipType(wireType);
    }
    const total = (counts.get(field) ?? 0) + n;
    if (total > limit.max) return field;
    counts.set(field, total);
  }
  return undefined;
}

/** The marker for a request refused before decoding, with the error its caller gets. */
function refuse(err: RequestTooLargeError | InvalidArgumentError): RefusedRequest {
  return { [REFUSED]: err };
}

/**
 * The service with every method's request deserializer replaced by one that
 * checks, before decoding: the byte size and the repeated-field counts (for
 * methods in `limits`), and that the bytes are a well-formed message of the
 * request type (wire-check: nothing truncated, no wrong wire type for a
 * known field, strings valid UTF-8). A refused request decodes to a marker
 * that {@link refusalOf} recognises (a throwing deserializer would end the
 * call as INTERNAL, and protobufjs alone would decode a truncated string as
 * a shorter one).
 */
export function limitRequests<S extends grpc.ServiceDefinition>(service: S, limits: Readonly<Record<string, MethodLimit>> = {}): S {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, def] of Object.entries(service)) {
    const limit: MethodLimit | undefined = limits[def.path];
    const type = requestTypeOf(def);
    const decode = def.requestDeserialize;
    const requestDeserialize = (buf: Buffer): unknown => {
      if (limit && buf.length > limit.maxBytes) {
        return refuse(new RequestTooLargeError(def.path, `${buf.length} bytes, over the limit of ${limit.maxBytes}`));
      }
      if (limit?.maxRepeated) {
        let field: number | undefined;
        try {
          field = overRepeated(buf, limit.maxRepeated);
        } catch {
          field = undefined; // malformed: the strict walk below reports it
        }
        if (field !== undefined) {
          // Too many entries is a malformed request (the same answer the engine gives a count it can see).
          const { name, max } = limit.maxRepeated[field];
          return refuse(new InvalidArgumentError(name, `more than the maximum of ${max} entries`));
        }
      }
      const problem = type ? wireProblem(buf, type) : undefined;
      if (problem !== undefined) return refuse(new InvalidArgumentError('request', `malformed protobuf message (${problem})`));
      try {
        return decode(buf);
      } catch {
        // The decoder's own text can quote offsets and values: a fixed one instead.
        return refuse(new InvalidArgumentError('request', 'malformed protobuf message'));
      }
    };
    out[name] = { ...def, requestDeserialize };
  }
  return out as unknown as S;
}

/**
 * `server` as seen by services that add themselves (health, reflection):
 * their methods' requests get the same strict decoding as ours.
 */
export function strictlyDecoding(server: grpc.Server): grpc.Server {
  return new Proxy(server, {
    get(target, prop, receiver) {
      if (prop === 'addService') {
        return (service: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation) => target.addService(limitRequests(service), impl);
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}
