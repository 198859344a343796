// Original file: proto/tcc/v1/coordinator.proto


export interface ResolveBranchRequest {
  'gid'?: (string);
  'branch_id'?: (string);
  'reason'?: (string);
  'operator'?: (string);
}

export interface ResolveBranchRequest__Output {
  'gid': (string);
  'branch_id': (string);
  'reason': (string);
  'operator': (string);
}
