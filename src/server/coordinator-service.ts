import type { Logger } from 'pino';
import type { CoordinatorHandlers } from '../generated/tcc/v1/Coordinator';
import type { BranchSpec__Output } from '../generated/tcc/v1/BranchSpec';
import type * as grpc from '@grpc/grpc-js';
import type { FinishRequest__Output } from '../generated/tcc/v1/FinishRequest';
import type { Transaction } from '../generated/tcc/v1/Transaction';
import type { BranchInput, FinishOptions, TransactionEngine, TransactionView } from '../engine/transaction-engine';
import { toViewMessage } from './message-mapping';
import { deadlineOf, traceparentOf, unary } from './unary-handler';
import { InvalidArgumentError, TransactionNotFoundError } from '../engine/errors';
import { validateId } from '../engine/validation';
import { GidTakenError } from './client-auth';
import type { SqlTransactionOwners } from '../store/transaction-owners';
import { inTransactionSpan } from './transaction-span';

function branchInput(spec: BranchSpec__Output | null, field: string): BranchInput {
  if (!spec) throw new InvalidArgumentError(field, 'is required');
  return { branchId: spec.branch_id, participant: spec.participant, action: spec.action, payload: spec.payload };
}

/** A `wait` call answers a little before its own deadline, with the state it has then. */
function waitUntil(deadline: number | undefined): number | undefined {
  return deadline === undefined ? undefined : deadline - 150;
}

type FinishCall = grpc.ServerUnaryCall<FinishRequest__Output, Transaction>;

async function finish(call: FinishCall, decide: (gid: string, opts: FinishOptions) => Promise<TransactionView>): Promise<Transaction> {
  const view = await inTransactionSpan(call.request.gid, () =>
    decide(call.request.gid, {
      wait: call.request.wait,
      waitUntil: waitUntil(deadlineOf(call)),
      traceparent: traceparentOf(call),
      deadline: deadlineOf(call),
    }),
  );
  return toViewMessage(view);
}

/** Client authentication and transaction ownership (TCC_CLIENT_AUTH); absent = open, as before. */
export interface CoordinatorAccess {
  /** The caller's identity, or undefined when authentication is off; throws when the call proves none. */
  authenticate(call: grpc.ServerUnaryCall<unknown, unknown>): string | undefined;
  owners: SqlTransactionOwners;
  /** Makes the gid of a Begin/Execute that gives none (it must be claimed before the transaction exists). */
  newGid(): string;
  now(): number;
}

/** tcc.v1.Coordinator on top of the engine. */
export function createCoordinatorHandlers(engine: TransactionEngine, logger: Logger, access?: CoordinatorAccess): CoordinatorHandlers {
  /**
   * Claims the gid for the caller before the transaction is created (a crash in between leaves
   * only a claim, which the same caller's retry reuses). Returns the gid to begin.
   */
  const claim = async (call: grpc.ServerUnaryCall<{ gid: string }, unknown>): Promise<string> => {
    const id = access?.authenticate(call);
    if (!access || id === undefined) return call.request.gid;
    const gid = call.request.gid ? validateId('gid', call.request.gid) : access.newGid();
    if ((await access.owners.claim(gid, id, access.now())) !== id) throw new GidTakenError();
    return gid;
  };
  /** Someone else's transaction is answered as if it did not exist. */
  const checkOwner = async (call: grpc.ServerUnaryCall<{ gid: string }, unknown>): Promise<void> => {
    const id = access?.authenticate(call);
    if (!access || id === undefined) return;
    const gid = validateId('gid', call.request.gid);
    if ((await access.owners.ownerOf(gid)) !== id) throw new TransactionNotFoundError(gid);
  };
  return {
    Begin: unary('Begin', logger, async (call) => {
      const gid = await claim(call);
      const txn = await engine.begin({ gid, timeoutMs: call.request.timeout_ms, deadline: deadlineOf(call) });
      return { gid: txn.gid, deadline_unix_ms: String(txn.deadlineAt) };
    }),
    Try: unary('Try', logger, async (call) => {
      await checkOwner(call);
      const r = call.request;
      const res = await engine.tryBranch({
        gid: r.gid,
        branch: branchInput(r.branch, 'branch'),
        timeoutMs: r.timeout_ms,
        traceparent: traceparentOf(call),
        deadline: deadlineOf(call),
      });
      return { branch_id: res.branchId, result: res.result };
    }),
    Commit: unary('Commit', logger, async (call) => {
      await checkOwner(call);
      return finish(call, (gid, o) => engine.commit(gid, o));
    }),
    Rollback: unary('Rollback', logger, async (call) => {
      await checkOwner(call);
      return finish(call, (gid, o) => engine.rollback(gid, o));
    }),
    Execute: unary('Execute', logger, async (call) => {
      const r = call.request;
      const gid = await claim(call);
      return toViewMessage(
        await inTransactionSpan(gid, () =>
          engine.execute({
            gid,
            timeoutMs: r.timeout_ms,
            branches: r.branches.map((b, i) => branchInput(b, `branches[${i}]`)),
            sequential: r.sequential,
            wait: r.wait,
            waitUntil: waitUntil(deadlineOf(call)),
            traceparent: traceparentOf(call),
            deadline: deadlineOf(call),
          }),
        ),
      );
    }),
    GetTransaction: unary('GetTransaction', logger, async (call) => {
      await checkOwner(call);
      return toViewMessage(await engine.get(call.request.gid));
    }),
  };
}
