// Original file: proto/tcc/v1/coordinator.proto

export const TryOutcome = {
  TRY_OUTCOME_UNSPECIFIED: 'TRY_OUTCOME_UNSPECIFIED',
  TRY_PENDING: 'TRY_PENDING',
  TRY_SUCCEEDED: 'TRY_SUCCEEDED',
  TRY_REFUSED: 'TRY_REFUSED',
  TRY_UNKNOWN: 'TRY_UNKNOWN',
} as const;

export type TryOutcome =
  | 'TRY_OUTCOME_UNSPECIFIED'
  | 0
  | 'TRY_PENDING'
  | 1
  | 'TRY_SUCCEEDED'
  | 2
  | 'TRY_REFUSED'
  | 3
  | 'TRY_UNKNOWN'
  | 4

export type TryOutcome__Output = typeof TryOutcome[keyof typeof TryOutcome]
