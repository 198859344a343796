/**
 * Participant SDK: serve tcc.v1.Participant from plain handlers per action,
 * with a barrier (idempotency, empty rollback, anti-suspension) around each.
 */
export { createBranchCall, type BranchCall, type BranchPhase } from './branch-call';
export { noBarrier, type Barrier, type BarrierResult } from './barrier';
export {
  BarrierViolationError,
  InvalidPayloadError,
  ParticipantError,
  TryRefusedError,
  TrySuspendedError,
  UnknownActionError,
} from './errors';
export { createParticipantHandlers, type ActionHandlers, type ParticipantServiceOptions } from './participant-service';
export { INTERNAL_ERROR_DETAILS } from './participant-status';
export { encodeTryResult, type TryResultValue } from './try-result';
export {
  createParticipantServer,
  ParticipantServer,
  PARTICIPANT_HEALTH_SERVICES,
  type ParticipantServerOptions,
  type ParticipantTlsOptions,
} from './participant-server';
export { CertificateError } from '../tls/certificate-error';
export { SqlBarrier, type SqlBarrierOptions, type SqlBarrierRetry } from './sql-barrier';
export {
  BARRIER_MIGRATION_NAME,
  barrierTableDdl,
  DEFAULT_BARRIER_TABLE,
  migrateBarrierSchema,
  type BarrierSchemaOptions,
  type BarrierSqlDialect,
} from './barrier-schema';
export { pruneSqlBarriers, type PruneSqlBarriersOptions } from './sql-barrier-retention';
export {
  DEFAULT_REDIS_BARRIER_PREFIX,
  DEFAULT_REDIS_BARRIER_TTL_MS,
  RedisBarrier,
  type RedisBarrierOptions,
} from './redis-barrier';
export { RedisChangeSet, type RedisChange, type RedisGuard } from './redis-change-set';
