import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { injectTraceContext } from './trace-interceptor';
import { ReloadableCertificates } from '../tls/reloadable-certificates';
import { createChannelTlsCredentials } from '../tls/tls-credentials';
import { loadTccProto } from '../protocol/tcc-proto';
import type { CoordinatorClient } from '../generated/tcc/v1/Coordinator';
import type { BranchSpec } from '../generated/tcc/v1/BranchSpec';
import type { BeginResponse__Output } from '../generated/tcc/v1/BeginResponse';
import type { TryResponse__Output } from '../generated/tcc/v1/TryResponse';
import {
  InvalidRequestError,
  TccError,
  TransactionOutcomeUnknownError,
  TransactionRolledBackError,
  TransactionStateError,
  toTccError,
  type BranchContext,
  type CallKind,
} from './errors';
import { encodePayload } from './payload';
import { runTransaction } from './run-transaction';
import type { TccTransactionHandle } from './transaction-handle';
import { MalformedResponseError, int64ToNumber, isCommitted, isRolledBack, toTransactionInfo, type TransactionInfo } from './transaction-info';
import type {
  BeginOptions,
  BeginResult,
  BranchSpecInput,
  CallTimeoutOption,
  ExecuteOptions,
  FinishOptions,
  TransactionOptions,
  TransactionResult,
  TryOptions,
  TryResult,
} from './types';

/** Options of {@link TccClient}. */
export interface TccClientOptions {
  /**
   * Channel credentials. Default `grpc.credentials.createInsecure()`, which
   * suits a coordinator on a private network or behind a mesh sidecar; pass
   * `grpc.credentials.createSsl(...)` otherwise.
   */
  credentials?: grpc.ChannelCredentials;
  /**
   * TLS from PEM files: the CA that verifies the coordinator and, for mutual
   * TLS, this client's certificate and key. Default: none (see `credentials`).
   * Not together with `credentials`.
   */
  tls?: ClientTlsOptions;
  /**
   * This client's bearer token (one of the coordinator's TCC_CLIENT_TOKENS),
   * sent as `authorization: Bearer <token>` on every call. Default: none.
   */
  token?: string;
  /**
   * gRPC deadline of every call, in ms. Default 10 000. No call goes without
   * one: a call hanging on a dead coordinator would otherwise hold the
   * caller's request forever. Per-call `callTimeoutMs` overrides it.
   */
  callTimeoutMs?: number;
  /** grpc-js channel options (keepalive, message size, ...). Default `{}`. */
  channelOptions?: grpc.ChannelOptions;
}

/** PEM files of a TLS client. */
export interface ClientTlsOptions {
  /** CA bundle that verifies the coordinator's certificate. Required. */
  caFile: string;
  /** This client's certificate (mutual TLS). Default: none; needs `keyFile`. */
  certFile?: string;
  /** Private key of `certFile`. Default: none. */
  keyFile?: string;
}

/** Default of {@link TccClientOptions.callTimeoutMs}. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

const UINT32_MAX = 0xffff_ffff;

/**
 * Client of a TCC coordinator (`tcc.v1.Coordinator`). One channel, reused by
 * every call; create one per process and {@link close} it at shutdown.
 *
 * Every method rejects with a {@link TccError} subclass naming the condition;
 * see `errors.ts`. The ones that decide (`commit`, `rollback`, `execute`)
 * reject with TransactionOutcomeUnknownError when the answer is lost: never
 * treat that as a failure to retry under a new gid.
 */
export class TccClient {
  private readonly coordinator: CoordinatorClient;
  private readonly callTimeoutMs: number;
  private closed = false;

  constructor(
    readonly target: string,
    options: TccClientOptions = {},
  ) {
    if (typeof target !== 'string' || target.trim() === '') {
      throw new InvalidRequestError({ details: 'target must be a non-empty gRPC target, e.g. "127.0.0.1:50051"' });
    }
    this.callTimeoutMs = checkTimeout(options.callTimeoutMs, DEFAULT_CALL_TIMEOUT_MS);
    if (options.tls && options.credentials) throw new InvalidRequestError({ details: 'give either credentials or tls, not both' });
    const credentials = options.tls
      ? createChannelTlsCredentials(
          new ReloadableCertificates({ caFile: options.tls.caFile, certFile: options.tls.certFile, keyFile: options.tls.keyFile }),
        )
      : options.credentials ?? grpc.credentials.createInsecure();
    const { grpcObject } = loadTccProto();
    const channelOptions: grpc.ClientOptions = { ...options.channelOptions };
    if (options.token !== undefined) {
      const header = `Bearer ${options.token}`;
      // An interceptor rather than call credentials: those are refused on a plaintext channel.
      const addToken: grpc.Interceptor = (opts, next) =>
        new grpc.InterceptingCall(next(opts), {
          start: (metadata, listener, start) => {
            metadata.set('authorization', header);
            start(metadata, listener);
          },
        });
      channelOptions.interceptors = [addToken, ...(channelOptions.interceptors ?? [])];
    }
    channelOptions.interceptors = [...(channelOptions.interceptors ?? []), injectTraceContext];
    this.coordinator = new grpcObject.tcc.v1.Coordinator(target, credentials, channelOptions);
  }

  /** Starts a global transaction. */
  async begin(opts: BeginOptions = {}): Promise<BeginResult> {
    const gid = optionalGid(opts.gid, 'begin');
    const timeoutMs = checkUint32(opts.timeoutMs, 'timeoutMs', 'begin', gid);
    return this.unary<BeginResponse__Output, BeginResult>(
      'begin',
      { gid },
      opts,
      (o, cb) => this.coordinator.Begin({ gid: gid ?? '', timeout_ms: timeoutMs }, o, cb),
      (res) => ({ gid: res.gid, deadlineUnixMs: int64ToNumber(res.deadline_unix_ms) }),
    );
  }

  /**
   * Registers a branch (stored durably by the coordinator) and runs the
   * participant's Try. Rejects with BranchRefusedError when the participant
   * refuses, BranchOutcomeUnknownError when its answer is unknown: in both
   * cases roll back.
   */
  async try(gid: string, branch: BranchSpecInput, opts: TryOptions = {}): Promise<TryResult> {
    const context: BranchContext & { gid: string } = {
      gid: requireGid(gid, 'try'),
      participant: branch?.participant,
      action: branch?.action,
      branchId: branch?.branchId,
    };
    const timeoutMs = checkUint32(opts.timeoutMs, 'timeoutMs', 'try', gid);
    const spec = toBranchSpec(branch, 'try', gid);
    return this.unary<TryResponse__Output, TryResult>(
      'try',
      context,
      opts,
      (o, cb) => this.coordinator.Try({ gid, branch: spec, timeout_ms: timeoutMs }, o, cb),
      (res) => ({ branchId: res.branch_id, result: res.result ?? Buffer.alloc(0) }),
    );
  }

  /**
   * Decides to confirm. Resolves once the decision is durable (CONFIRMING),
   * or with `wait` once every branch is confirmed (CONFIRMED, unless the
   * call's deadline came first). Rejects with TransactionRolledBackError when
   * the transaction was, or now is, rolled back.
   */
  async commit(gid: string, opts: FinishOptions = {}): Promise<TransactionInfo> {
    requireGid(gid, 'commit');
    const info = await this.unary(
      'commit',
      { gid },
      opts,
      (o, cb) => this.coordinator.Commit({ gid, wait: opts.wait ?? false }, o, cb),
      toTransactionInfo,
    );
    return expectCommitted(info, 'commit');
  }

  /**
   * Decides to cancel. Resolves with CANCELLING, or CANCELLED with `wait`.
   * Rejects with TransactionStateError after a commit decision.
   */
  async rollback(gid: string, opts: FinishOptions = {}): Promise<TransactionInfo> {
    requireGid(gid, 'rollback');
    const info = await this.unary(
      'rollback',
      { gid },
      opts,
      (o, cb) => this.coordinator.Rollback({ gid, wait: opts.wait ?? false }, o, cb),
      toTransactionInfo,
    );
    if (isRolledBack(info.status)) return info;
    if (isCommitted(info.status)) {
      throw new TransactionStateError({ gid, call: 'rollback', details: `the transaction is ${info.status}` });
    }
    throw undecided(info, 'rollback');
  }

  /**
   * Begin, every Try, and Commit in one call. Resolves when committed;
   * rejects with TransactionRolledBackError when a Try was refused (or failed)
   * and everything was rolled back. Give it a `callTimeoutMs` that covers all
   * the Tries (and phase two with `wait`).
   */
  async execute(opts: ExecuteOptions): Promise<TransactionInfo> {
    // Chosen here when not given: if the answer is lost, the caller must
    // still be able to look the transaction up, and only a gid does that.
    const gid = optionalGid(opts?.gid, 'execute') ?? randomUUID();
    const timeoutMs = checkUint32(opts?.timeoutMs, 'timeoutMs', 'execute', gid);
    if (!Array.isArray(opts?.branches)) {
      throw new InvalidRequestError({ details: 'branches must be an array', call: 'execute', gid });
    }
    const branches = opts.branches.map((b) => toBranchSpec(b, 'execute', gid));
    const info = await this.unary(
      'execute',
      { gid },
      opts,
      (o, cb) =>
        this.coordinator.Execute(
          { gid, timeout_ms: timeoutMs, branches, wait: opts.wait ?? false, sequential: opts.sequential ?? false },
          o,
          cb,
        ),
      toTransactionInfo,
    );
    return expectCommitted(info, 'execute');
  }

  /** The coordinator's current view of a transaction, with its branches and phase log. */
  async get(gid: string, opts: CallTimeoutOption = {}): Promise<TransactionInfo> {
    requireGid(gid, 'get');
    return this.unary('get', { gid }, opts, (o, cb) => this.coordinator.GetTransaction({ gid }, o, cb), toTransactionInfo);
  }

  /**
   * Runs `fn` inside a transaction: Begin, then `fn(tx)`, where `tx.try(...)`
   * adds branches; Commit when `fn` resolves, Rollback when it throws.
   *
   * Rejects with:
   * - TransactionRolledBackError when rolled back, definitely: `fn` threw
   *   (`cause` is its error), or the Commit answered ABORTED (`reason`);
   * - TransactionOutcomeUnknownError when the Commit's answer was lost, or
   *   `fn` threw and the Rollback could not be recorded (`cause` is `fn`'s
   *   error, `rollbackError` the Rollback's): check `get(gid)` later;
   * - the Begin's error (`fn` is then not called).
   */
  async transaction<T>(opts: TransactionOptions, fn: (tx: TccTransactionHandle) => Promise<T>): Promise<TransactionResult<T>> {
    return runTransaction(this, opts ?? {}, fn);
  }

  /** Closes the channel. Later calls reject; calls in flight may still complete. */
  close(): void {
    this.closed = true;
    this.coordinator.close();
  }

  /**
   * One unary call with a deadline; every failure goes through toTccError,
   * so all methods agree on what a status means.
   */
  private async unary<Res, Out>(
    call: CallKind,
    context: BranchContext & { gid?: string },
    opts: CallTimeoutOption,
    start: (options: grpc.CallOptions, callback: grpc.requestCallback<Res>) => grpc.ClientUnaryCall,
    decode: (res: Res) => Out,
  ): Promise<Out> {
    if (this.closed) {
      throw new TccError(`${call} on a closed TccClient`, { code: grpc.status.FAILED_PRECONDITION, gid: context.gid, call });
    }
    const timeoutMs = checkTimeout(opts.callTimeoutMs, this.callTimeoutMs, call, context.gid);
    return new Promise<Out>((resolve, reject) => {
      const callback: grpc.requestCallback<Res> = (err, res) => {
        if (err) {
          reject(toTccError(err, call, context));
          return;
        }
        try {
          if (res === undefined) throw new MalformedResponseError('empty response');
          resolve(decode(res));
        } catch (decodeErr) {
          // The server answered OK but not something the contract allows: for
          // a deciding call that leaves the outcome unknown (INTERNAL).
          const message = decodeErr instanceof Error ? decodeErr.message : String(decodeErr);
          reject(toTccError(syntheticServiceError(grpc.status.INTERNAL, `malformed response: ${message}`), call, context));
        }
      };
      try {
        start({ deadline: Date.now() + timeoutMs }, callback);
      } catch (err) {
        // Thrown before anything was sent: no outcome to be unsure about.
        const message = err instanceof Error ? err.message : String(err);
        reject(new TccError(`${call} could not be sent: ${message}`, { code: grpc.status.INTERNAL, gid: context.gid, call, cause: err }));
      }
    });
  }
}

function expectCommitted(info: TransactionInfo, call: 'commit' | 'execute'): TransactionInfo {
  if (isCommitted(info.status)) return info;
  if (isRolledBack(info.status)) {
    // The contract says ABORTED for this; a plain answer means the same.
    throw new TransactionRolledBackError({ gid: info.gid, reason: info.reason, call });
  }
  throw undecided(info, call);
}

function undecided(info: TransactionInfo, call: CallKind): TransactionOutcomeUnknownError {
  return new TransactionOutcomeUnknownError({
    gid: info.gid,
    code: grpc.status.INTERNAL,
    call,
    details: `coordinator answered OK with status ${info.status}`,
  });
}

function syntheticServiceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata: new grpc.Metadata() });
}

function toBranchSpec(branch: BranchSpecInput, call: CallKind, gid: string | undefined): BranchSpec {
  if (branch === null || typeof branch !== 'object') {
    throw new InvalidRequestError({ details: 'branch must be an object', call, gid });
  }
  for (const field of ['participant', 'action'] as const) {
    if (typeof branch[field] !== 'string') throw new InvalidRequestError({ details: `branch.${field} must be a string`, call, gid });
  }
  if (branch.branchId !== undefined && typeof branch.branchId !== 'string') {
    throw new InvalidRequestError({ details: 'branch.branchId must be a string', call, gid });
  }
  return {
    branch_id: branch.branchId ?? '',
    participant: branch.participant,
    action: branch.action,
    payload: encodePayload(branch.payload, call, gid),
  };
}

// Type checks only for plain-JS callers: protobufjs would otherwise coerce
// or drop a wrong value silently. Content is the coordinator's to validate.
function requireGid(gid: string, call: CallKind): string {
  if (typeof gid !== 'string') throw new InvalidRequestError({ details: 'gid must be a string', call });
  return gid;
}

function optionalGid(gid: string | undefined, call: CallKind): string | undefined {
  if (gid === undefined || gid === '') return undefined;
  return requireGid(gid, call);
}

function checkUint32(value: number | undefined, name: string, call: CallKind, gid: string | undefined): number {
  if (value === undefined) return 0;
  // protobufjs would wrap -1 to 4294967295: an hour-long timeout nobody asked for.
  if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw new InvalidRequestError({ details: `${name} must be a whole number of ms from 0 to ${UINT32_MAX}`, call, gid });
  }
  return value;
}

function checkTimeout(value: number | undefined, dflt: number, call?: CallKind, gid?: string): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidRequestError({ details: 'callTimeoutMs must be a positive number of ms', call, gid });
  }
  return value;
}
