// Original file: proto/tcc/v1/participant.proto

import type { Phase as _tcc_v1_Phase, Phase__Output as _tcc_v1_Phase__Output } from '../../tcc/v1/Phase';
import type { BranchRequest as _tcc_v1_BranchRequest, BranchRequest__Output as _tcc_v1_BranchRequest__Output } from '../../tcc/v1/BranchRequest';
import type { Long } from '@grpc/proto-loader';

export interface BranchCall {
  'call_id'?: (number | string | Long);
  'phase'?: (_tcc_v1_Phase);
  'request'?: (_tcc_v1_BranchRequest | null);
  'timeout_ms'?: (number);
  'metadata'?: ({[key: string]: string});
}

export interface BranchCall__Output {
  'call_id': (string);
  'phase': (_tcc_v1_Phase__Output);
  'request': (_tcc_v1_BranchRequest__Output | null);
  'timeout_ms': (number);
  'metadata': ({[key: string]: string});
}
