// Original file: proto/tcc/v1/coordinator.proto

export const PhaseTwoState = {
  PHASE_TWO_STATE_UNSPECIFIED: 'PHASE_TWO_STATE_UNSPECIFIED',
  PHASE_TWO_NOT_DUE: 'PHASE_TWO_NOT_DUE',
  PHASE_TWO_PENDING: 'PHASE_TWO_PENDING',
  PHASE_TWO_DONE: 'PHASE_TWO_DONE',
  PHASE_TWO_SKIPPED: 'PHASE_TWO_SKIPPED',
  PHASE_TWO_RESOLVED: 'PHASE_TWO_RESOLVED',
} as const;

export type PhaseTwoState =
  | 'PHASE_TWO_STATE_UNSPECIFIED'
  | 0
  | 'PHASE_TWO_NOT_DUE'
  | 1
  | 'PHASE_TWO_PENDING'
  | 2
  | 'PHASE_TWO_DONE'
  | 3
  | 'PHASE_TWO_SKIPPED'
  | 4
  | 'PHASE_TWO_RESOLVED'
  | 5

export type PhaseTwoState__Output = typeof PhaseTwoState[keyof typeof PhaseTwoState]
