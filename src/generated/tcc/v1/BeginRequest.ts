// Original file: proto/tcc/v1/coordinator.proto


export interface BeginRequest {
  'gid'?: (string);
  'timeout_ms'?: (number);
}

export interface BeginRequest__Output {
  'gid': (string);
  'timeout_ms': (number);
}
