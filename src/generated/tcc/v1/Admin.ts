// Original file: proto/tcc/v1/coordinator.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetTransactionRequest as _tcc_v1_GetTransactionRequest, GetTransactionRequest__Output as _tcc_v1_GetTransactionRequest__Output } from '../../tcc/v1/GetTransactionRequest';
import type { ListTransactionsRequest as _tcc_v1_ListTransactionsRequest, ListTransactionsRequest__Output as _tcc_v1_ListTransactionsRequest__Output } from '../../tcc/v1/ListTransactionsRequest';
import type { ListTransactionsResponse as _tcc_v1_ListTransactionsResponse, ListTransactionsResponse__Output as _tcc_v1_ListTransactionsResponse__Output } from '../../tcc/v1/ListTransactionsResponse';
import type { Transaction as _tcc_v1_Transaction, Transaction__Output as _tcc_v1_Transaction__Output } from '../../tcc/v1/Transaction';

export interface AdminClient extends grpc.Client {
  ListTransactions(argument: _tcc_v1_ListTransactionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  ListTransactions(argument: _tcc_v1_ListTransactionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  ListTransactions(argument: _tcc_v1_ListTransactionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  ListTransactions(argument: _tcc_v1_ListTransactionsRequest, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  listTransactions(argument: _tcc_v1_ListTransactionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  listTransactions(argument: _tcc_v1_ListTransactionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  listTransactions(argument: _tcc_v1_ListTransactionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  listTransactions(argument: _tcc_v1_ListTransactionsRequest, callback: grpc.requestCallback<_tcc_v1_ListTransactionsResponse__Output>): grpc.ClientUnaryCall;
  
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
  ListTransactions: grpc.handleUnaryCall<_tcc_v1_ListTransactionsRequest__Output, _tcc_v1_ListTransactionsResponse>;
  
  RetryTransaction: grpc.handleUnaryCall<_tcc_v1_GetTransactionRequest__Output, _tcc_v1_Transaction>;
  
}

export interface AdminDefinition extends grpc.ServiceDefinition {
  ListTransactions: MethodDefinition<_tcc_v1_ListTransactionsRequest, _tcc_v1_ListTransactionsResponse, _tcc_v1_ListTransactionsRequest__Output, _tcc_v1_ListTransactionsResponse__Output>
  RetryTransaction: MethodDefinition<_tcc_v1_GetTransactionRequest, _tcc_v1_Transaction, _tcc_v1_GetTransactionRequest__Output, _tcc_v1_Transaction__Output>
}
