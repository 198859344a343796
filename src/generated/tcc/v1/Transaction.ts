// Original file: proto/tcc/v1/coordinator.proto

import type { Status as _tcc_v1_Status, Status__Output as _tcc_v1_Status__Output } from '../../tcc/v1/Status';
import type { Branch as _tcc_v1_Branch, Branch__Output as _tcc_v1_Branch__Output } from '../../tcc/v1/Branch';
import type { PhaseLog as _tcc_v1_PhaseLog, PhaseLog__Output as _tcc_v1_PhaseLog__Output } from '../../tcc/v1/PhaseLog';
import type { Long } from '@grpc/proto-loader';

export interface Transaction {
  'gid'?: (string);
  'status'?: (_tcc_v1_Status);
  'reason'?: (string);
  'created_unix_ms'?: (number | string | Long);
  'updated_unix_ms'?: (number | string | Long);
  'deadline_unix_ms'?: (number | string | Long);
  'attempts'?: (number);
  'next_retry_unix_ms'?: (number | string | Long);
  'last_error'?: (string);
  'stuck'?: (boolean);
  'branches'?: (_tcc_v1_Branch)[];
  'logs'?: (_tcc_v1_PhaseLog)[];
  'decided_unix_ms'?: (number | string | Long);
  'owner'?: (string);
  'logs_omitted'?: (number);
}

export interface Transaction__Output {
  'gid': (string);
  'status': (_tcc_v1_Status__Output);
  'reason': (string);
  'created_unix_ms': (string);
  'updated_unix_ms': (string);
  'deadline_unix_ms': (string);
  'attempts': (number);
  'next_retry_unix_ms': (string);
  'last_error': (string);
  'stuck': (boolean);
  'branches': (_tcc_v1_Branch__Output)[];
  'logs': (_tcc_v1_PhaseLog__Output)[];
  'decided_unix_ms': (string);
  'owner': (string);
  'logs_omitted': (number);
}
