/**
 * A small promise client of `tcc.v1.Admin` for tccctl: one channel, the
 * bearer token on every call, and a deadline on every call.
 */
import * as grpc from '@grpc/grpc-js';
import type { AdminClient } from '../generated/tcc/v1/Admin';
import type { ListTransactionsRequest } from '../generated/tcc/v1/ListTransactionsRequest';
import type { ListTransactionsResponse__Output } from '../generated/tcc/v1/ListTransactionsResponse';
import type { Transaction__Output } from '../generated/tcc/v1/Transaction';
import { loadTccProto } from '../protocol/tcc-proto';

/** Options of {@link AdminApiClient}. */
export interface AdminApiClientOptions {
  /** gRPC target of the coordinator, e.g. `127.0.0.1:50051`. Required. */
  target: string;
  /**
   * Sent as `authorization: Bearer <token>` on every call. Default: none,
   * which only a coordinator without TCC_ADMIN_TOKEN accepts.
   */
  token?: string;
  /**
   * Deadline of every call, in ms. Default {@link DEFAULT_ADMIN_CALL_TIMEOUT_MS}.
   * No call goes without one: against a coordinator that accepts the
   * connection but never answers, the operator's command must still end.
   */
  callTimeoutMs?: number;
  /** Channel credentials. Default plaintext (`createInsecure()`), like the coordinator's listener. */
  credentials?: grpc.ChannelCredentials;
}

/** Default of {@link AdminApiClientOptions.callTimeoutMs}. */
export const DEFAULT_ADMIN_CALL_TIMEOUT_MS = 10_000;

export type AdminMethod = 'ListTransactions' | 'GetTransaction' | 'RetryTransaction' | 'Abort' | 'ResolveBranch';

/** An Admin call that ended with a gRPC status other than OK. Carries `code` like a grpc-js ServiceError. */
export class AdminCallError extends Error {
  override readonly name = 'AdminCallError';

  constructor(
    readonly method: AdminMethod,
    /** gRPC status code (`@grpc/grpc-js` `status`). */
    readonly code: grpc.status,
    /** The coordinator's explanation (or grpc-js's, for a transport failure). */
    readonly details: string,
  ) {
    super(`${method} failed: ${grpc.status[code] ?? `code ${code}`}${details ? `: ${details}` : ''}`);
  }
}

/** What tccctl needs of the Admin service (a seam for tests of the commands). */
export interface AdminApi {
  listTransactions(req: ListTransactionsRequest): Promise<ListTransactionsResponse__Output>;
  getTransaction(gid: string): Promise<Transaction__Output>;
  retryTransaction(gid: string): Promise<Transaction__Output>;
  abort(gid: string, reason: string, operator: string): Promise<Transaction__Output>;
  resolveBranch(gid: string, branchId: string, reason: string, operator: string): Promise<Transaction__Output>;
  close(): void;
}

type Invoke<T> = (md: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<T>) => unknown;

/** {@link AdminApi} over gRPC. Rejects with {@link AdminCallError} only. */
export class AdminApiClient implements AdminApi {
  private readonly raw: AdminClient;
  private readonly token: string | undefined;
  private readonly callTimeoutMs: number;

  constructor(options: AdminApiClientOptions) {
    const { grpcObject } = loadTccProto();
    this.raw = new grpcObject.tcc.v1.Admin(options.target, options.credentials ?? grpc.credentials.createInsecure());
    this.token = options.token || undefined;
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_ADMIN_CALL_TIMEOUT_MS;
  }

  listTransactions(req: ListTransactionsRequest): Promise<ListTransactionsResponse__Output> {
    return this.call('ListTransactions', (md, o, cb) => this.raw.ListTransactions(req, md, o, cb));
  }

  getTransaction(gid: string): Promise<Transaction__Output> {
    return this.call('GetTransaction', (md, o, cb) => this.raw.GetTransaction({ gid }, md, o, cb));
  }

  retryTransaction(gid: string): Promise<Transaction__Output> {
    return this.call('RetryTransaction', (md, o, cb) => this.raw.RetryTransaction({ gid }, md, o, cb));
  }

  abort(gid: string, reason: string, operator: string): Promise<Transaction__Output> {
    return this.call('Abort', (md, o, cb) => this.raw.Abort({ gid, reason, operator }, md, o, cb));
  }

  resolveBranch(gid: string, branchId: string, reason: string, operator: string): Promise<Transaction__Output> {
    return this.call('ResolveBranch', (md, o, cb) => this.raw.ResolveBranch({ gid, branch_id: branchId, reason, operator }, md, o, cb));
  }

  close(): void {
    this.raw.close();
  }

  private call<T>(method: AdminMethod, invoke: Invoke<T>): Promise<T> {
    const metadata = new grpc.Metadata();
    if (this.token) metadata.set('authorization', `Bearer ${this.token}`);
    return new Promise<T>((resolve, reject) => {
      invoke(metadata, { deadline: Date.now() + this.callTimeoutMs }, (err, value) => {
        if (err) reject(new AdminCallError(method, err.code, err.details));
        else if (value === undefined) reject(new AdminCallError(method, grpc.status.INTERNAL, 'no error and no response'));
        else resolve(value);
      });
    });
  }
}
