// Original file: proto/tcc/v1/coordinator.proto

import type { Long } from '@grpc/proto-loader';

export interface BeginResponse {
  'gid'?: (string);
  'deadline_unix_ms'?: (number | string | Long);
}

export interface BeginResponse__Output {
  'gid': (string);
  'deadline_unix_ms': (string);
}
