import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AdminHandlers } from '../generated/tcc/v1/Admin';
import type { TransactionStatus } from '../domain/model';
import { InvalidArgumentError } from '../engine/errors';
import type { TransactionEngine } from '../engine/transaction-engine';
import type { RecoveryScheduler } from '../recovery/recovery-scheduler';
import { validateId, validateTarget } from '../engine/validation';
import type { Clock } from '../domain/clock';
import { createAdminAuthorizer } from './admin-auth';
import { toTransactionMessage, toViewMessage } from './message-mapping';
import { deadlineOf, unary } from './unary-handler';
import { toGrpcFailure } from './status-mapping';

const STATUSES: readonly TransactionStatus[] = ['TRYING', 'CONFIRMING', 'CONFIRMED', 'CANCELLING', 'CANCELLED'];
const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;

/** Page tokens are opaque to callers: the last gid of the page, base64url. */
function decodePageToken(token: string): string | undefined {
  if (!token) return undefined;
  const gid = Buffer.from(token, 'base64url').toString('utf8');
  try {
    return validateId('page_token', gid);
  } catch {
    throw new InvalidArgumentError('page_token', 'not a token returned by ListTransactions');
  }
}

type AuditedCall = grpc.ServerUnaryCall<{ gid: string; operator?: string; branch_id?: string }, unknown>;

/**
 * Runs a mutating Admin handler and writes one audit line with who asked
 * (the request's operator, and the peer address), what on, and the outcome:
 * status name only, never a stack or SQL.
 */
function audited<C extends AuditedCall, Res>(method: string, logger: Logger, handler: (call: C) => Promise<Res>): (call: C) => Promise<Res> {
  return async (call) => {
    const line = (outcome: string) =>
      logger.info(
        {
          audit: true,
          method,
          gid: String(call.request.gid).slice(0, 128),
          branch_id: call.request.branch_id ? String(call.request.branch_id).slice(0, 128) : undefined,
          operator: String(call.request.operator ?? '').slice(0, 128),
          peer: call.getPeer(),
          outcome,
        },
        'admin call',
      );
    try {
      const res = await handler(call);
      line('OK');
      return res;
    } catch (err) {
      line(grpc.status[toGrpcFailure(err).code]);
      throw err;
    }
  };
}

/** tcc.v1.Admin. Every call checks the admin token first, when one is configured. */
export function createAdminHandlers(engine: TransactionEngine, recovery: RecoveryScheduler, opts: { adminToken?: string; logger: Logger; clock: Clock }): AdminHandlers {
  const authorize = createAdminAuthorizer(opts.adminToken);
  return {
    ListTransactions: unary('ListTransactions', opts.logger, async (call) => {
      authorize(call.metadata);
      const r = call.request;
      const statuses = r.statuses.map((s) => {
        if (!STATUSES.includes(s as TransactionStatus)) throw new InvalidArgumentError('statuses', `unknown status ${s}`);
        return s as TransactionStatus;
      });
      if (r.limit > MAX_PAGE) throw new InvalidArgumentError('limit', `at most ${MAX_PAGE}`);
      const limit = r.limit || DEFAULT_PAGE;
      const olderThan = Number(r.older_than_ms);
      const rows = await engine.store.listTransactions({
        statuses,
        stuckOnly: r.stuck_only,
        createdBefore: olderThan > 0 ? opts.clock.now() - olderThan : undefined,
        participant: r.participant ? validateTarget('participant', r.participant) : undefined,
        afterGid: decodePageToken(r.page_token),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      return {
        transactions: page.map((t) => toTransactionMessage(t)),
        next_page_token: rows.length > limit ? Buffer.from(page[page.length - 1].gid, 'utf8').toString('base64url') : '',
      };
    }),
    RetryTransaction: unary(
      'RetryTransaction',
      opts.logger,
      audited('RetryTransaction', opts.logger, async (call) => {
        authorize(call.metadata);
        return toViewMessage(await recovery.retryNow(call.request.gid));
      }),
    ),
    GetTransaction: unary('GetTransaction', opts.logger, async (call) => {
      authorize(call.metadata);
      return toViewMessage(await engine.get(call.request.gid));
    }),
    Abort: unary(
      'Abort',
      opts.logger,
      audited('Abort', opts.logger, async (call) => {
        authorize(call.metadata);
        const r = call.request;
        return toViewMessage(await engine.abort(r.gid, { reason: r.reason, operator: r.operator, deadline: deadlineOf(call) }));
      }),
    ),
    ResolveBranch: unary(
      'ResolveBranch',
      opts.logger,
      audited('ResolveBranch', opts.logger, async (call) => {
        authorize(call.metadata);
        const r = call.request;
        return toViewMessage(await engine.resolveBranch(r.gid, r.branch_id, { reason: r.reason, operator: r.operator, deadline: deadlineOf(call) }));
      }),
    ),
  };
}
