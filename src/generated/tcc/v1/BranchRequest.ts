// Original file: proto/tcc/v1/participant.proto


export interface BranchRequest {
  'gid'?: (string);
  'branch_id'?: (string);
  'action'?: (string);
  'payload'?: (Buffer | Uint8Array | string);
}

export interface BranchRequest__Output {
  'gid': (string);
  'branch_id': (string);
  'action': (string);
  'payload': (Buffer);
}
