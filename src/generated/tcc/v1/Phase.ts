// Original file: proto/tcc/v1/participant.proto

export const Phase = {
  PHASE_UNSPECIFIED: 'PHASE_UNSPECIFIED',
  TRY: 'TRY',
  CONFIRM: 'CONFIRM',
  CANCEL: 'CANCEL',
} as const;

export type Phase =
  | 'PHASE_UNSPECIFIED'
  | 0
  | 'TRY'
  | 1
  | 'CONFIRM'
  | 2
  | 'CANCEL'
  | 3

export type Phase__Output = typeof Phase[keyof typeof Phase]
