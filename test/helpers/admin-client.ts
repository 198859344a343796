/**
 * A promisified tcc.v1.Admin client for tests: raw gRPC (no tccctl code in
 * between), resolving with the response or rejecting with the grpc-js
 * ServiceError, every call with a deadline.
 */
import * as grpc from '@grpc/grpc-js';
import { loadTccProto } from '../../src/protocol/tcc-proto';
import type { AdminClient } from '../../src/generated/tcc/v1/Admin';
import type { AbortRequest } from '../../src/generated/tcc/v1/AbortRequest';
import type { ListTransactionsRequest } from '../../src/generated/tcc/v1/ListTransactionsRequest';
import type { ListTransactionsResponse__Output } from '../../src/generated/tcc/v1/ListTransactionsResponse';
import type { ResolveBranchRequest } from '../../src/generated/tcc/v1/ResolveBranchRequest';
import type { Transaction__Output } from '../../src/generated/tcc/v1/Transaction';

export interface AdminCallOpts {
  /**
   * `authorization: Bearer <token>`; null sends no authorization header.
   * Default: the client's token.
   */
  token?: string | null;
  deadlineMs?: number;
}

export interface TestAdminClient {
  readonly raw: AdminClient;
  list(req: ListTransactionsRequest, o?: AdminCallOpts): Promise<ListTransactionsResponse__Output>;
  get(gid: string, o?: AdminCallOpts): Promise<Transaction__Output>;
  retry(gid: string, o?: AdminCallOpts): Promise<Transaction__Output>;
  abort(req: AbortRequest, o?: AdminCallOpts): Promise<Transaction__Output>;
  resolve(req: ResolveBranchRequest, o?: AdminCallOpts): Promise<Transaction__Output>;
  close(): void;
}

type Invoke<T> = (md: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<T>) => unknown;

export function createAdminClient(address: string, token?: string): TestAdminClient {
  const { grpcObject } = loadTccProto();
  const raw = new grpcObject.tcc.v1.Admin(address, grpc.credentials.createInsecure());

  function call<T>(invoke: Invoke<T>, o: AdminCallOpts = {}): Promise<T> {
    const md = new grpc.Metadata();
    const t = o.token === undefined ? token : o.token;
    if (t !== null && t !== undefined) md.set('authorization', `Bearer ${t}`);
    return new Promise<T>((resolve, reject) => {
      invoke(md, { deadline: Date.now() + (o.deadlineMs ?? 10_000) }, (err, value) => {
        if (err) reject(err);
        else if (value === undefined) reject(new Error('no error and no response'));
        else resolve(value);
      });
    });
  }

  return {
    raw,
    list: (req, o) => call((md, op, cb) => raw.ListTransactions(req, md, op, cb), o),
    get: (gid, o) => call((md, op, cb) => raw.GetTransaction({ gid }, md, op, cb), o),
    retry: (gid, o) => call((md, op, cb) => raw.RetryTransaction({ gid }, md, op, cb), o),
    abort: (req, o) => call((md, op, cb) => raw.Abort(req, md, op, cb), o),
    resolve: (req, o) => call((md, op, cb) => raw.ResolveBranch(req, md, op, cb), o),
    close: () => raw.close(),
  };
}
