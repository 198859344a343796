// Original file: proto/tcc/v1/coordinator.proto

import type { BranchSpec as _tcc_v1_BranchSpec, BranchSpec__Output as _tcc_v1_BranchSpec__Output } from '../../tcc/v1/BranchSpec';

export interface ExecuteRequest {
  'gid'?: (string);
  'timeout_ms'?: (number);
  'branches'?: (_tcc_v1_BranchSpec)[];
  'wait'?: (boolean);
  'sequential'?: (boolean);
}

export interface ExecuteRequest__Output {
  'gid': (string);
  'timeout_ms': (number);
  'branches': (_tcc_v1_BranchSpec__Output)[];
  'wait': (boolean);
  'sequential': (boolean);
}
