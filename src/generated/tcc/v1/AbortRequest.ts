// Original file: proto/tcc/v1/coordinator.proto


export interface AbortRequest {
  'gid'?: (string);
  'reason'?: (string);
  'operator'?: (string);
}

export interface AbortRequest__Output {
  'gid': (string);
  'reason': (string);
  'operator': (string);
}
