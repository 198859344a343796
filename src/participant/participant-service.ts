import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { BranchRequest__Output } from '../generated/tcc/v1/BranchRequest';
import type { BranchResponse } from '../generated/tcc/v1/BranchResponse';
import type { ParticipantHandlers } from '../generated/tcc/v1/Participant';
import { createLogger } from '../log/logger';
import type { Barrier } from './barrier';
import { createBranchCall, type BranchCall, type BranchPhase } from './branch-call';
import { UnknownActionError } from './errors';
import { describeError, toParticipantFailure } from './participant-status';
import { EMPTY_RESULT, encodeTryResult, type TryResultValue } from './try-result';
import { deadlineMs, unaryOnce } from './unary-once';
import { inHandlerSpan } from './handler-span';
import type { CallRunner } from './call-runner';
import { serveCalls } from './calls-stream';

/**
 * The business side of one action (e.g. `debit`), run by the barrier inside
 * its local transaction `tx`. Throw {@link TryRefusedError} from `try` for a
 * business "no"; anything a handler throws rolls its transaction back.
 */
export interface ActionHandlers<Tx> {
  /** Reserves. Its value is encoded into `BranchResponse.result` (see {@link TryResultValue}). */
  try(tx: Tx, call: BranchCall): Promise<TryResultValue>;
  /** Makes the reservation final. */
  confirm(tx: Tx, call: BranchCall): Promise<void>;
  /**
   * Releases the reservation. With a barrier, only called when this
   * branch's Try ran here (the barrier answers empty rollbacks itself); with
   * `noBarrier`, also for a Try that never arrived.
   */
  cancel(tx: Tx, call: BranchCall): Promise<void>;
}

/** Options of {@link createParticipantHandlers}. */
export interface ParticipantServiceOptions<Tx> {
  /**
   * Runs every call's business function under the TCC rules (idempotency,
   * empty rollback, anti-suspension). Required: pass `noBarrier` to opt out
   * explicitly, only when every handler copes with duplicates and
   * Cancel-before-Try on its own.
   */
  barrier: Barrier<Tx>;
  /** Handlers by action name (the request's `action`). No default. */
  actions: Readonly<Record<string, ActionHandlers<Tx>>>;
  /**
   * Default: pino JSON lines on stdout at level `info`. Lines carry gid,
   * branch_id, phase and action, and errors as `Name: message`; never stacks,
   * payloads or results. Refusals log at info, violations at warn,
   * INTERNAL at error, answered calls at debug.
   */
  logger?: Logger;
  /**
   * Most calls of one Participant.Calls stream running at once; a call beyond
   * it is answered RESOURCE_EXHAUSTED (the coordinator reads it as outcome
   * unknown and calls again). Bounds what one caller can make this process
   * hold. Default 256 (the coordinator keeps at most 128 per stream).
   */
  maxStreamCallsInFlight?: number;
}

const PHASES: readonly BranchPhase[] = ['try', 'confirm', 'cancel'];

function logFields(phase: BranchPhase, req: BranchRequest__Output): Record<string, string> {
  return { gid: req.gid, branch_id: req.branch_id, phase, action: req.action };
}

function actionTable<Tx>(actions: Readonly<Record<string, ActionHandlers<Tx>>>): ReadonlyMap<string, ActionHandlers<Tx>> {
  // A Map, not the object: an action named "toString" or "__proto__" must not find Object.prototype.
  const table = new Map<string, ActionHandlers<Tx>>();
  for (const [name, handlers] of Object.entries(actions)) {
    for (const phase of PHASES) {
      if (typeof handlers?.[phase] !== 'function') throw new TypeError(`action "${name}" has no ${phase} handler`);
    }
    table.set(name, handlers);
  }
  return table;
}

/**
 * Builds the tcc.v1.Participant service from plain handlers per action.
 *
 * Every call runs `barrier.run(call, (tx) => handler(tx, call))`. The barrier's
 * outcome `applied` answers OK with the Try's result (empty for Confirm and
 * Cancel); `duplicate` and `empty-rollback` answer OK with an empty result (a
 * retried Try does not get its first result again). Errors become statuses in
 * one table (participant-status.ts): TryRefusedError (and TrySuspendedError)
 * → ABORTED; BarrierViolationError, InvalidPayloadError → FAILED_PRECONDITION;
 * an unknown action → FAILED_PRECONDITION for Try, UNIMPLEMENTED for Confirm
 * and Cancel; anything else → INTERNAL "internal error".
 *
 * A call still running when its deadline passes is not answered (grpc-js has
 * already answered DEADLINE_EXCEEDED); its work still commits or rolls back
 * as a whole, and the coordinator's retry finds it through the barrier.
 *
 * `Calls` serves the same calls as messages on one stream (see calls-stream.ts),
 * run by the same code: nothing to do for a participant to support it.
 *
 * @example
 * server.addService(loadTccProto().grpcObject.tcc.v1.Participant.service,
 *   createParticipantHandlers({ barrier: new SqlBarrier(knex), actions: { debit } }));
 */
export function createParticipantHandlers<Tx>(options: ParticipantServiceOptions<Tx>): ParticipantHandlers {
  return createParticipantService(options).handlers;
}

/** The handlers, and {@link ServedCalls.drain} for a server's shutdown (ParticipantServer calls it). */
export function createParticipantService<Tx>(options: ParticipantServiceOptions<Tx>): {
  handlers: ParticipantHandlers;
  drainStreams: () => void;
} {
  const barrier = options.barrier as Barrier<Tx> | undefined;
  if (!barrier || typeof barrier.run !== 'function') {
    throw new TypeError('a barrier is required (pass noBarrier to opt out explicitly)');
  }
  const actions = actionTable(options.actions);
  const logger = options.logger ?? createLogger({ level: 'info' });

  const runner: CallRunner = {
    run: (phase, request, metadata, deadline) =>
      inHandlerSpan(phase, { metadata, request }, async () => {
        const branch = createBranchCall(phase, request, metadata, deadline);
        const handlers = actions.get(branch.action);
        // Checked before the barrier: an unknown action must leave no barrier record behind.
        if (!handlers) throw new UnknownActionError(branch.action, phase);
        const done = await barrier.run(branch, async (tx): Promise<Buffer> => {
          if (phase === 'try') {
            // Encoded inside the barrier: a result that cannot be encoded rolls the Try back.
            return encodeTryResult(await handlers.try(tx, branch));
          }
          await handlers[phase](tx, branch);
          return EMPTY_RESULT;
        });
        logger.debug({ ...logFields(phase, request), outcome: done.outcome }, 'branch call answered');
        return { result: done.outcome === 'applied' ? done.value : EMPTY_RESULT };
      }),
    fail: (phase, request, err) => {
      const failure = toParticipantFailure(err, phase);
      logger[failure.level]({ ...logFields(phase, request), code: grpc.status[failure.code], err: describeError(err) }, 'branch call failed');
      return failure;
    },
    late: (phase, request, outcome) => {
      logger.warn(
        { ...logFields(phase, request), finished_with: outcome },
        'branch call finished after it had ended (deadline passed or caller cancelled): answer dropped',
      );
    },
  };

  const handler = (phase: BranchPhase) =>
    unaryOnce<BranchRequest__Output, BranchResponse>(
      (call) => runner.run(phase, call.request, call.metadata, deadlineMs(call)),
      (err, call) => runner.fail(phase, call.request, err),
      (call, outcome) => runner.late(phase, call.request, outcome),
    );

  const calls = serveCalls(runner, { maxInFlight: options.maxStreamCallsInFlight, logger });
  return {
    handlers: { Try: handler('try'), Confirm: handler('confirm'), Cancel: handler('cancel'), Calls: calls.handler },
    drainStreams: () => calls.drain(),
  };
}
