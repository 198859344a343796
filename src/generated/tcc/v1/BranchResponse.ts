// Original file: proto/tcc/v1/participant.proto


export interface BranchResponse {
  'result'?: (Buffer | Uint8Array | string);
}

export interface BranchResponse__Output {
  'result': (Buffer);
}
