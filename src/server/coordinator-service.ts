import type { Logger } from 'pino';
import type { CoordinatorHandlers } from '../generated/tcc/v1/Coordinator';
import type { BranchSpec__Output } from '../generated/tcc/v1/BranchSpec';
import type * as grpc from '@grpc/grpc-js';
import type { FinishRequest__Output } from '../generated/tcc/v1/FinishRequest';
import type { Transaction } from '../generated/tcc/v1/Transaction';
import type { BranchInput, FinishOptions, TransactionEngine, TransactionView } from '../engine/transaction-engine';
import { toViewMessage } from './message-mapping';
import { deadlineOf, traceparentOf, unary } from './unary-handler';
import { InvalidArgumentError } from '../engine/errors';
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

/** tcc.v1.Coordinator on top of the engine. */
export function createCoordinatorHandlers(engine: TransactionEngine, logger: Logger): CoordinatorHandlers {
  return {
    Begin: unary('Begin', logger, async (call) => {
      const txn = await engine.begin({ gid: call.request.gid, timeoutMs: call.request.timeout_ms, deadline: deadlineOf(call) });
      return { gid: txn.gid, deadline_unix_ms: String(txn.deadlineAt) };
    }),
    Try: unary('Try', logger, async (call) => {
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
    Commit: unary('Commit', logger, (call) => finish(call, (gid, o) => engine.commit(gid, o))),
    Rollback: unary('Rollback', logger, (call) => finish(call, (gid, o) => engine.rollback(gid, o))),
    Execute: unary('Execute', logger, async (call) => {
      const r = call.request;
      return toViewMessage(
        await inTransactionSpan(r.gid, () =>
          engine.execute({
            gid: r.gid,
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
    GetTransaction: unary('GetTransaction', logger, async (call) => toViewMessage(await engine.get(call.request.gid))),
  };
}
