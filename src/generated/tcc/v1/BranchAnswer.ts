// Original file: proto/tcc/v1/participant.proto

import type { Long } from '@grpc/proto-loader';

export interface BranchAnswer {
  'call_id'?: (number | string | Long);
  'code'?: (number);
  'message'?: (string);
  'result'?: (Buffer | Uint8Array | string);
}

export interface BranchAnswer__Output {
  'call_id': (string);
  'code': (number);
  'message': (string);
  'result': (Buffer);
}
