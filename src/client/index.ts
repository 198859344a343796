/**
 * Client SDK of the TCC coordinator. Start with {@link TccClient}; every
 * error it throws is a {@link TccError} subclass naming the condition.
 */
export { TccClient, DEFAULT_CALL_TIMEOUT_MS, type ClientTlsOptions, type TccClientOptions } from './tcc-client';
export { CertificateError } from '../tls/certificate-error';
export type { TccTransactionHandle, HandleTryOptions } from './transaction-handle';
export type {
  BeginOptions,
  BeginResult,
  BranchSpecInput,
  CallTimeoutOption,
  ExecuteOptions,
  FinishOptions,
  TransactionOptions,
  TransactionResult,
  TryOptions,
  TryResult,
} from './types';
export type { BranchPayload } from './payload';
export {
  isCommitted,
  isRolledBack,
  type BranchInfo,
  type PhaseLogInfo,
  type PhaseTwoState,
  type TransactionInfo,
  type TransactionStatus,
  type TryOutcome,
} from './transaction-info';
export {
  BranchOutcomeUnknownError,
  BranchRefusedError,
  CoordinatorUnavailableError,
  InvalidRequestError,
  TccError,
  TransactionNotFoundError,
  TransactionOutcomeUnknownError,
  TransactionRolledBackError,
  TransactionStateError,
  toTccError,
  type BranchContext,
  type CallKind,
  type TccErrorOptions,
} from './errors';
