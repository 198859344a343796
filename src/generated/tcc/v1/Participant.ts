// Original file: proto/tcc/v1/participant.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { BranchAnswer as _tcc_v1_BranchAnswer, BranchAnswer__Output as _tcc_v1_BranchAnswer__Output } from '../../tcc/v1/BranchAnswer';
import type { BranchCall as _tcc_v1_BranchCall, BranchCall__Output as _tcc_v1_BranchCall__Output } from '../../tcc/v1/BranchCall';
import type { BranchRequest as _tcc_v1_BranchRequest, BranchRequest__Output as _tcc_v1_BranchRequest__Output } from '../../tcc/v1/BranchRequest';
import type { BranchResponse as _tcc_v1_BranchResponse, BranchResponse__Output as _tcc_v1_BranchResponse__Output } from '../../tcc/v1/BranchResponse';

export interface ParticipantClient extends grpc.Client {
  Calls(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_tcc_v1_BranchCall, _tcc_v1_BranchAnswer__Output>;
  Calls(options?: grpc.CallOptions): grpc.ClientDuplexStream<_tcc_v1_BranchCall, _tcc_v1_BranchAnswer__Output>;
  calls(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_tcc_v1_BranchCall, _tcc_v1_BranchAnswer__Output>;
  calls(options?: grpc.CallOptions): grpc.ClientDuplexStream<_tcc_v1_BranchCall, _tcc_v1_BranchAnswer__Output>;
  
  Cancel(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  Cancel(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  Cancel(argument: _tcc_v1_BranchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  Cancel(argument: _tcc_v1_BranchRequest, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  cancel(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  cancel(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  cancel(argument: _tcc_v1_BranchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  cancel(argument: _tcc_v1_BranchRequest, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  
  Confirm(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  Confirm(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  Confirm(argument: _tcc_v1_BranchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  Confirm(argument: _tcc_v1_BranchRequest, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  confirm(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  confirm(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  confirm(argument: _tcc_v1_BranchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  confirm(argument: _tcc_v1_BranchRequest, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  
  Try(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  Try(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  Try(argument: _tcc_v1_BranchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  Try(argument: _tcc_v1_BranchRequest, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  try(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  try(argument: _tcc_v1_BranchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  try(argument: _tcc_v1_BranchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  try(argument: _tcc_v1_BranchRequest, callback: grpc.requestCallback<_tcc_v1_BranchResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface ParticipantHandlers extends grpc.UntypedServiceImplementation {
  Calls: grpc.handleBidiStreamingCall<_tcc_v1_BranchCall__Output, _tcc_v1_BranchAnswer>;
  
  Cancel: grpc.handleUnaryCall<_tcc_v1_BranchRequest__Output, _tcc_v1_BranchResponse>;
  
  Confirm: grpc.handleUnaryCall<_tcc_v1_BranchRequest__Output, _tcc_v1_BranchResponse>;
  
  Try: grpc.handleUnaryCall<_tcc_v1_BranchRequest__Output, _tcc_v1_BranchResponse>;
  
}

export interface ParticipantDefinition extends grpc.ServiceDefinition {
  Calls: MethodDefinition<_tcc_v1_BranchCall, _tcc_v1_BranchAnswer, _tcc_v1_BranchCall__Output, _tcc_v1_BranchAnswer__Output>
  Cancel: MethodDefinition<_tcc_v1_BranchRequest, _tcc_v1_BranchResponse, _tcc_v1_BranchRequest__Output, _tcc_v1_BranchResponse__Output>
  Confirm: MethodDefinition<_tcc_v1_BranchRequest, _tcc_v1_BranchResponse, _tcc_v1_BranchRequest__Output, _tcc_v1_BranchResponse__Output>
  Try: MethodDefinition<_tcc_v1_BranchRequest, _tcc_v1_BranchResponse, _tcc_v1_BranchRequest__Output, _tcc_v1_BranchResponse__Output>
}
