// Original file: proto/tcc/v1/coordinator.proto

import type { Long } from '@grpc/proto-loader';

export interface PhaseLog {
  'branch_id'?: (string);
  'phase'?: (string);
  'attempt'?: (number);
  'outcome'?: (string);
  'grpc_code'?: (number);
  'error'?: (string);
  'started_unix_ms'?: (number | string | Long);
  'duration_ms'?: (number);
  'node'?: (string);
  'id'?: (number | string | Long);
  'operator'?: (string);
  'repeats'?: (number);
}

export interface PhaseLog__Output {
  'branch_id': (string);
  'phase': (string);
  'attempt': (number);
  'outcome': (string);
  'grpc_code': (number);
  'error': (string);
  'started_unix_ms': (string);
  'duration_ms': (number);
  'node': (string);
  'id': (string);
  'operator': (string);
  'repeats': (number);
}
