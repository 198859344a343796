// Original file: proto/tcc/v1/coordinator.proto

import type { Status as _tcc_v1_Status, Status__Output as _tcc_v1_Status__Output } from '../../tcc/v1/Status';
import type { Long } from '@grpc/proto-loader';

export interface ListTransactionsRequest {
  'statuses'?: (_tcc_v1_Status)[];
  'stuck_only'?: (boolean);
  'older_than_ms'?: (number | string | Long);
  'limit'?: (number);
  'page_token'?: (string);
  'participant'?: (string);
}

export interface ListTransactionsRequest__Output {
  'statuses': (_tcc_v1_Status__Output)[];
  'stuck_only': (boolean);
  'older_than_ms': (string);
  'limit': (number);
  'page_token': (string);
  'participant': (string);
}
