// Original file: proto/tcc/v1/coordinator.proto


export interface BranchSpec {
  'branch_id'?: (string);
  'participant'?: (string);
  'action'?: (string);
  'payload'?: (Buffer | Uint8Array | string);
}

export interface BranchSpec__Output {
  'branch_id': (string);
  'participant': (string);
  'action': (string);
  'payload': (Buffer);
}
