// Original file: proto/tcc/v1/coordinator.proto

import type { TryOutcome as _tcc_v1_TryOutcome, TryOutcome__Output as _tcc_v1_TryOutcome__Output } from '../../tcc/v1/TryOutcome';
import type { PhaseTwoState as _tcc_v1_PhaseTwoState, PhaseTwoState__Output as _tcc_v1_PhaseTwoState__Output } from '../../tcc/v1/PhaseTwoState';
import type { Long } from '@grpc/proto-loader';

export interface Branch {
  'branch_id'?: (string);
  'participant'?: (string);
  'action'?: (string);
  'try_outcome'?: (_tcc_v1_TryOutcome);
  'phase_two'?: (_tcc_v1_PhaseTwoState);
  'attempts'?: (number);
  'next_retry_unix_ms'?: (number | string | Long);
  'last_error'?: (string);
  'created_unix_ms'?: (number | string | Long);
  'updated_unix_ms'?: (number | string | Long);
  'payload_bytes'?: (number);
  'try_attempts'?: (number);
}

export interface Branch__Output {
  'branch_id': (string);
  'participant': (string);
  'action': (string);
  'try_outcome': (_tcc_v1_TryOutcome__Output);
  'phase_two': (_tcc_v1_PhaseTwoState__Output);
  'attempts': (number);
  'next_retry_unix_ms': (string);
  'last_error': (string);
  'created_unix_ms': (string);
  'updated_unix_ms': (string);
  'payload_bytes': (number);
  'try_attempts': (number);
}
