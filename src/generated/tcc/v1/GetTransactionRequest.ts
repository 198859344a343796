// Original file: proto/tcc/v1/coordinator.proto


export interface GetTransactionRequest {
  'gid'?: (string);
}

export interface GetTransactionRequest__Output {
  'gid': (string);
}
