// Original file: proto/tcc/v1/coordinator.proto

export const Status = {
  STATUS_UNSPECIFIED: 'STATUS_UNSPECIFIED',
  TRYING: 'TRYING',
  CONFIRMING: 'CONFIRMING',
  CONFIRMED: 'CONFIRMED',
  CANCELLING: 'CANCELLING',
  CANCELLED: 'CANCELLED',
} as const;

export type Status =
  | 'STATUS_UNSPECIFIED'
  | 0
  | 'TRYING'
  | 1
  | 'CONFIRMING'
  | 2
  | 'CONFIRMED'
  | 3
  | 'CANCELLING'
  | 4
  | 'CANCELLED'
  | 5

export type Status__Output = typeof Status[keyof typeof Status]
