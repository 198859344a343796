// Original file: proto/tcc/v1/coordinator.proto


export interface FinishRequest {
  'gid'?: (string);
  'wait'?: (boolean);
}

export interface FinishRequest__Output {
  'gid': (string);
  'wait': (boolean);
}
