// Original file: proto/tcc/v1/coordinator.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AbortRequest as _tcc_v1_AbortRequest, AbortRequest__Output as _tcc_v1_AbortRequest__Output } from '../../tcc/v1/AbortRequest';
import type { GetTransactionRequest as _tcc_v1_GetTransactionRequest, GetTransactionRequest__Output as _tcc_v1_GetTransactionRequest__Output } from '../../tcc/v1/GetTransactionRequest';
import type { ListTransactionsRequest as _tcc_v1_ListTransactionsRequest, ListTransactionsRequest__Output as _tcc_v1_ListTransactionsRequest__Output } from '../../tcc/v1/ListTransactionsRequest';
import type { ListTransactionsResponse as _tcc_v1_ListTransactionsResponse, ListTransactionsResponse__Output as _tcc_v1_ListTransactionsResponse__Output } from '../../tcc/v1/ListTransactionsResponse';
import type { ResolveBranchRequest as _tcc_v1_ResolveBranchRequest, ResolveBranchRequest__Output as _tcc_v1_ResolveBranchRequest__Output } from '../../tcc/v1/ResolveBranchRequest';
import type { Transaction as _tcc_v1_Transaction, Transaction__Output as _tcc_v1_Transaction__Output } from '../../tcc/v1/Transaction';

export interface AdminClient extends grpc.Client {
  Abort(argument: _tcc_v1_AbortRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Abort(argument: _tcc_v1_AbortRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Abort(argument: _tcc_v1_AbortRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Abort(argument: _tcc_v1_AbortRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  abort(argument: _tcc_v1_AbortRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  abort(argument: _tcc_v1_AbortRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  abort(argument: _tcc_v1_AbortRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  abort(argument: _tcc_v1_AbortRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  
  GetTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  GetTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  GetTransaction(argument: _tcc_v1_GetTransactionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  GetTransaction(argument: _tcc_v1_GetTransactionRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  getTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  getTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  getTransaction(argument: _tcc_v1_GetTransactionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  getTransaction(argument: _tcc_v1_GetTransactionRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  
  ListTransactions(argument: _tcc_v1_ListTransactionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  ListTransactions(argument: _tcc_v1_ListTransactionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  ListTransactions(argument: _tcc_v1_ListTransactionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  ListTransactions(argument: _tcc_v1_ListTransactionsRequest, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  listTransactions(argument: _tcc_v1_ListTransactionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  listTransactions(argument: _tcc_v1_ListTransactionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  listTransactions(argument: _tcc_v1_ListTransactionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  listTransactions(argument: _tcc_v1_ListTransactionsRequest, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  
  ResolveBranch(argument: _tcc_v1_ResolveBranchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  ResolveBranch(argument: _tcc_v1_ResolveBranchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  ResolveBranch(argument: _tcc_v1_ResolveBranchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  ResolveBranch(argument: _tcc_v1_ResolveBranchRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  resolveBranch(argument: _tcc_v1_ResolveBranchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  resolveBranch(argument: _tcc_v1_ResolveBranchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  resolveBranch(argument: _tcc_v1_ResolveBranchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  resolveBranch(argument: _tcc_v1_ResolveBranchRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  
  RetryTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  RetryTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  RetryTransaction(argument: _tcc_v1_GetTransactionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  RetryTransaction(argument: _tcc_v1_GetTransactionRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  retryTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  retryTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  retryTransaction(argument: _tcc_v1_GetTransactionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  retryTransaction(argument: _tcc_v1_GetTransactionRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  
}

export interface AdminHandlers extends grpc.UntypedServiceImplementation {
  Abort: grpc.handleUnaryCall<_tcc_v1_AbortRequest__Output, _tcc_v1_Transaction>;
  
  GetTransaction: grpc.handleUnaryCall<_tcc_v1_GetTransactionRequest__Output, _tcc_v1_Transaction>;
  
  ListTransactions: grpc.handleUnaryCall<_tcc_v1_ListTransactionsRequest__Output, _tcc_v1_ListTransactionsResponse>;
  
  ResolveBranch: grpc.handleUnaryCall<_tcc_v1_ResolveBranchRequest__Output, _tcc_v1_Transaction>;
  
  RetryTransaction: grpc.handleUnaryCall<_tcc_v1_GetTransactionRequest__Output, _tcc_v1_Transaction>;
  
}

export interface AdminDefinition extends grpc.ServiceDefinition {
  Abort: MethodDefinition<_tcc_v1_AbortRequest, _tcc_v1_Transaction, _tcc_v1_AbortRequest__Output, _tcc_v1_Transaction__Output>
  GetTransaction: MethodDefinition<_tcc_v1_GetTransactionRequest, _tcc_v1_Transaction, _tcc_v1_GetTransactionRequest__Output, _tcc_v1_Transaction__Output>
  ListTransactions: MethodDefinition<_tcc_v1_ListTransactionsRequest, _tcc_v1_ListTransactionsResponse, _tcc_v1_ListTransactionsRequest__Output, _tcc_v1_ListTransactionsResponse__Output>
  ResolveBranch: MethodDefinition<_tcc_v1_ResolveBranchRequest, _tcc_v1_Transaction, _tcc_v1_ResolveBranchRequest__Output, _tcc_v1_Transaction__Output>
  RetryTransaction: MethodDefinition<_tcc_v1_GetTransactionRequest, _tcc_v1_Transaction, _tcc_v1_GetTransactionRequest__Output, _tcc_v1_Transaction__Output>
}
