// Original file: proto/tcc/v1/coordinator.proto


export interface TryResponse {
  'branch_id'?: (string);
  'result'?: (Buffer | Uint8Array | string);
}

export interface TryResponse__Output {
  'branch_id': (string);
  'result': (Buffer);
}
