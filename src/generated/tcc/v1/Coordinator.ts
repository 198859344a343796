// Original file: proto/tcc/v1/coordinator.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { BeginRequest as _tcc_v1_BeginRequest, BeginRequest__Output as _tcc_v1_BeginRequest__Output } from '../../tcc/v1/BeginRequest';
import type { BeginResponse as _tcc_v1_BeginResponse, BeginResponse__Output as _tcc_v1_BeginResponse__Output } from '../../tcc/v1/BeginResponse';
import type { ExecuteRequest as _tcc_v1_ExecuteRequest, ExecuteRequest__Output as _tcc_v1_ExecuteRequest__Output } from '../../tcc/v1/ExecuteRequest';
import type { FinishRequest as _tcc_v1_FinishRequest, FinishRequest__Output as _tcc_v1_FinishRequest__Output } from '../../tcc/v1/FinishRequest';
import type { GetTransactionRequest as _tcc_v1_GetTransactionRequest, GetTransactionRequest__Output as _tcc_v1_GetTransactionRequest__Output } from '../../tcc/v1/GetTransactionRequest';
import type { Transaction as _tcc_v1_Transaction, Transaction__Output as _tcc_v1_Transaction__Output } from '../../tcc/v1/Transaction';
import type { TryRequest as _tcc_v1_TryRequest, TryRequest__Output as _tcc_v1_TryRequest__Output } from '../../tcc/v1/TryRequest';
import type { TryResponse as _tcc_v1_TryResponse, TryResponse__Output as _tcc_v1_TryResponse__Output } from '../../tcc/v1/TryResponse';

export interface CoordinatorClient extends grpc.Client {
  Begin(argument: _tcc_v1_BeginRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BeginResponse__Output>): grpc.ClientUnaryCall;
  Begin(argument: _tcc_v1_BeginRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_BeginResponse__Output>): grpc.ClientUnaryCall;
  Begin(argument: _tcc_v1_BeginRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BeginResponse__Output>): grpc.ClientUnaryCall;
  Begin(argument: _tcc_v1_BeginRequest, callback: grpc.requestCallback<_tcc_v1_BeginResponse__Output>): grpc.ClientUnaryCall;
  begin(argument: _tcc_v1_BeginRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BeginResponse__Output>): grpc.ClientUnaryCall;
  begin(argument: _tcc_v1_BeginRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_BeginResponse__Output>): grpc.ClientUnaryCall;
  begin(argument: _tcc_v1_BeginRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BeginResponse__Output>): grpc.ClientUnaryCall;
  begin(argument: _tcc_v1_BeginRequest, callback: grpc.requestCallback<_tcc_v1_BeginResponse__Output>): grpc.ClientUnaryCall;
  
  Commit(argument: _tcc_v1_FinishRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Commit(argument: _tcc_v1_FinishRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Commit(argument: _tcc_v1_FinishRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Commit(argument: _tcc_v1_FinishRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  commit(argument: _tcc_v1_FinishRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  commit(argument: _tcc_v1_FinishRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  commit(argument: _tcc_v1_FinishRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  commit(argument: _tcc_v1_FinishRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  
  Execute(argument: _tcc_v1_ExecuteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Execute(argument: _tcc_v1_ExecuteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Execute(argument: _tcc_v1_ExecuteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Execute(argument: _tcc_v1_ExecuteRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  execute(argument: _tcc_v1_ExecuteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  execute(argument: _tcc_v1_ExecuteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  execute(argument: _tcc_v1_ExecuteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  execute(argument: _tcc_v1_ExecuteRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  
  GetTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  GetTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  GetTransaction(argument: _tcc_v1_GetTransactionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  GetTransaction(argument: _tcc_v1_GetTransactionRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  getTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  getTransaction(argument: _tcc_v1_GetTransactionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  getTransaction(argument: _tcc_v1_GetTransactionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  getTransaction(argument: _tcc_v1_GetTransactionRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  
  Rollback(argument: _tcc_v1_FinishRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Rollback(argument: _tcc_v1_FinishRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Rollback(argument: _tcc_v1_FinishRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  Rollback(argument: _tcc_v1_FinishRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  rollback(argument: _tcc_v1_FinishRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  rollback(argument: _tcc_v1_FinishRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  rollback(argument: _tcc_v1_FinishRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  rollback(argument: _tcc_v1_FinishRequest, callback: grpc.requestCallback<_tcc_v1_Transaction__Output>): grpc.ClientUnaryCall;
  
  Try(argument: _tcc_v1_TryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_TryResponse__Output>): grpc.ClientUnaryCall;
  Try(argument: _tcc_v1_TryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_TryResponse__Output>): grpc.ClientUnaryCall;
  Try(argument: _tcc_v1_TryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_TryResponse__Output>): grpc.ClientUnaryCall;
  Try(argument: _tcc_v1_TryRequest, callback: grpc.requestCallback<_tcc_v1_TryResponse__Output>): grpc.ClientUnaryCall;
  try(argument: _tcc_v1_TryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_TryResponse__Output>): grpc.ClientUnaryCall;
  try(argument: _tcc_v1_TryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_TryResponse__Output>): grpc.ClientUnaryCall;
  try(argument: _tcc_v1_TryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_TryResponse__Output>): grpc.ClientUnaryCall;
  try(argument: _tcc_v1_TryRequest, callback: grpc.requestCallback<_tcc_v1_TryResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface CoordinatorHandlers extends grpc.UntypedServiceImplementation {
  Begin: grpc.handleUnaryCall<_tcc_v1_BeginRequest__Output, _tcc_v1_BeginResponse>;
  
  Commit: grpc.handleUnaryCall<_tcc_v1_FinishRequest__Output, _tcc_v1_Transaction>;
  
  Execute: grpc.handleUnaryCall<_tcc_v1_ExecuteRequest__Output, _tcc_v1_Transaction>;
  
  GetTransaction: grpc.handleUnaryCall<_tcc_v1_GetTransactionRequest__Output, _tcc_v1_Transaction>;
  
  Rollback: grpc.handleUnaryCall<_tcc_v1_FinishRequest__Output, _tcc_v1_Transaction>;
  
  Try: grpc.handleUnaryCall<_tcc_v1_TryRequest__Output, _tcc_v1_TryResponse>;
  
}

export interface CoordinatorDefinition extends grpc.ServiceDefinition {
  Begin: MethodDefinition<_tcc_v1_BeginRequest, _tcc_v1_BeginResponse, _tcc_v1_BeginRequest__Output, _tcc_v1_BeginResponse__Output>
  Commit: MethodDefinition<_tcc_v1_FinishRequest, _tcc_v1_Transaction, _tcc_v1_FinishRequest__Output, _tcc_v1_Transaction__Output>
  Execute: MethodDefinition<_tcc_v1_ExecuteRequest, _tcc_v1_Transaction, _tcc_v1_ExecuteRequest__Output, _tcc_v1_Transaction__Output>
  GetTransaction: MethodDefinition<_tcc_v1_GetTransactionRequest, _tcc_v1_Transaction, _tcc_v1_GetTransactionRequest__Output, _tcc_v1_Transaction__Output>
  Rollback: MethodDefinition<_tcc_v1_FinishRequest, _tcc_v1_Transaction, _tcc_v1_FinishRequest__Output, _tcc_v1_Transaction__Output>
  Try: MethodDefinition<_tcc_v1_TryRequest, _tcc_v1_TryResponse, _tcc_v1_TryRequest__Output, _tcc_v1_TryResponse__Output>
}
