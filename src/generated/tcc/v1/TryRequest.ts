// Original file: proto/tcc/v1/coordinator.proto

import type { BranchSpec as _tcc_v1_BranchSpec, BranchSpec__Output as _tcc_v1_BranchSpec__Output } from '../../tcc/v1/BranchSpec';

export interface TryRequest {
  'gid'?: (string);
  'branch'?: (_tcc_v1_BranchSpec | null);
  'timeout_ms'?: (number);
}

export interface TryRequest__Output {
  'gid': (string);
  'branch': (_tcc_v1_BranchSpec__Output | null);
  'timeout_ms': (number);
}
