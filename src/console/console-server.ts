import type * as http from 'node:http';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import type { TransactionStatus } from '../domain/model';
import { describeError } from '../log/describe-error';
import { TransactionNotFoundError } from '../engine/errors';
import type { TransactionEngine } from '../engine/transaction-engine';
import { validateId, validateTarget } from '../engine/validation';
import { CONSOLE_APP_JS, CONSOLE_CSS, consolePage, loginPage } from './console-assets';
import { ConsoleSessions } from './console-sessions';

/** Options of {@link createConsoleRoutes}. */
export interface ConsoleOptions {
  engine: TransactionEngine;
  /** TCC_ADMIN_TOKEN; without one the console is not served. */
  adminToken: string;
  clock: Clock;
  logger: Logger;
  /** Session lifetime, ms. Default 8 h. */
  sessionTtlMs?: number;
}

/** Handles a request when it is the console's; answers whether it did. */
export type ConsoleRoutes = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

const COOKIE = 'tcc_console';
const STATUSES: readonly TransactionStatus[] = ['TRYING', 'CONFIRMING', 'CONFIRMED', 'CANCELLING', 'CANCELLED'];
const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;
const MAX_FORM_BYTES = 4_096;

/** Bad filter input: answered 400 with the message, nothing read. */
class ConsoleInputError extends Error {}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
};

function send(res: http.ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, ...SECURITY_HEADERS, ...extra });
  res.end(body);
}

function json(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function sessionOf(req: http.IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === COOKIE) return v.join('=');
  }
  return undefined;
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FORM_BYTES) {
        reject(new ConsoleInputError('form too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function wholeNumber(q: URLSearchParams, name: string, max: number): number | undefined {
  const raw = q.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw) || Number(raw) > max) throw new ConsoleInputError(`${name}: expected a whole number up to ${max}`);
  return Number(raw);
}

function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ConsoleInputError(err instanceof Error ? err.message : 'invalid input');
  }
}

/**
 * The read-only transaction console, on the metrics port under /console:
 * a login form (the admin token, POSTed once, exchanged for an HttpOnly
 * session cookie), the transaction list with the Admin API's filters
 * (status, stuck only, participant, older than, page) and a live timeline
 * of one transaction. Every data route answers 401 without a session.
 */
export function createConsoleRoutes(o: ConsoleOptions): ConsoleRoutes {
  const sessions = new ConsoleSessions({ adminToken: o.adminToken, ttlMs: o.sessionTtlMs, now: () => o.clock.now() });

  const list = async (q: URLSearchParams) => {
    const statuses = q.getAll('status').map((s) => {
      if (!STATUSES.includes(s as TransactionStatus)) throw new ConsoleInputError(`status: unknown status ${s}`);
      return s as TransactionStatus;
    });
    const limit = wholeNumber(q, 'limit', MAX_PAGE) || DEFAULT_PAGE;
    const olderThan = wholeNumber(q, 'older_than_ms', 10 * 365 * 24 * 3_600_000);
    const participant = q.get('participant') || undefined;
    const pageToken = q.get('page_token') || undefined;
    const rows = await o.engine.store.listTransactions({
      statuses,
      stuckOnly: q.get('stuck') === '1',
      createdBefore: olderThan ? o.clock.now() - olderThan : undefined,
      participant: participant ? checked(() => validateTarget('participant', participant)) : undefined,
      afterGid: pageToken ? checked(() => validateId('page_token', Buffer.from(pageToken, 'base64url').toString('utf8'))) : undefined,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    return {
      now: o.clock.now(),
      transactions: page.map((t) => ({
        gid: t.gid,
        status: t.status,
        reason: t.reason,
        createdAt: t.createdAt,
        updatedAt: t.updatedAt,
        deadlineAt: t.deadlineAt,
        decidedAt: t.decidedAt,
        attempts: t.attempts,
        stuck: t.stuck,
        lastError: t.lastError,
      })),
      nextPageToken: rows.length > limit ? Buffer.from(page[page.length - 1].gid, 'utf8').toString('base64url') : '',
    };
  };

  const detail = async (gidRaw: string) => {
    const gid = checked(() => validateId('gid', gidRaw));
    const view = await o.engine.get(gid).catch((err: unknown) => {
      if (err instanceof TransactionNotFoundError) return undefined;
      throw err;
    });
    if (!view) return undefined;
    const { txn, branches, logs } = view;
    // Never payloads or results: the console shows ids, states, times and errors.
    return {
      now: o.clock.now(),
      transaction: {
        gid: txn.gid,
        status: txn.status,
        reason: txn.reason,
        createdAt: txn.createdAt,
        updatedAt: txn.updatedAt,
        deadlineAt: txn.deadlineAt,
        decidedAt: txn.decidedAt,
        attempts: txn.attempts,
        stuck: txn.stuck,
        lastError: txn.lastError,
      },
      branches: branches.map((b) => ({
        branchId: b.branchId,
        seq: b.seq,
        participant: b.participant,
        action: b.action,
        tryState: b.tryState,
        phaseTwo: b.phaseTwo,
        attempts: b.attempts,
        nextRetryAt: b.nextRetryAt,
        lastError: b.lastError,
      })),
      logs: logs.map((l) => ({
        branchId: l.branchId,
        phase: l.phase,
        attempt: l.attempt,
        outcome: l.outcome,
        grpcCode: l.grpcCode,
        error: l.error,
        startedAt: l.startedAt,
        durationMs: l.durationMs,
        node: l.node,
        operator: l.operator ?? '',
      })),
    };
  };

  const fail = (res: http.ServerResponse, err: unknown) => {
    if (err instanceof ConsoleInputError) {
      json(res, 400, { error: err.message });
      return;
    }
    o.logger.error({ err: describeError(err) }, 'console request failed');
    json(res, 500, { error: 'internal error' });
  };

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const p = url.pathname;
    if (p !== '/console' && !p.startsWith('/console/')) return false;
    const session = sessionOf(req);
    const authed = sessions.valid(session);

    if (req.method === 'GET' && p === '/console/app.js') {
      send(res, 200, 'text/javascript; charset=utf-8', CONSOLE_APP_JS);
    } else if (req.method === 'GET' && p === '/console/app.css') {
      send(res, 200, 'text/css; charset=utf-8', CONSOLE_CSS);
    } else if (req.method === 'GET' && (p === '/console' || p === '/console/')) {
      send(res, 200, 'text/html; charset=utf-8', authed ? consolePage() : loginPage(false));
    } else if (req.method === 'POST' && p === '/console/login') {
      readForm(req).then(
        (form) => {
          const id = sessions.login(form.get('token') ?? '');
          if (!id) {
            o.logger.warn('console login refused');
            send(res, 401, 'text/html; charset=utf-8', loginPage(true));
            return;
          }
          // 303 back to the page: a reload never re-posts the token.
          send(res, 303, 'text/plain', '', {
            location: '/console',
            'set-cookie': `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/console`,
          });
        },
        (err: unknown) => fail(res, err),
      );
    } else if (req.method === 'POST' && p === '/console/logout') {
      sessions.logout(session);
      send(res, 303, 'text/plain', '', { location: '/console', 'set-cookie': `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0` });
    } else if (p.startsWith('/console/api/')) {
      if (!authed) {
        json(res, 401, { error: 'log in first' });
      } else if (req.method === 'GET' && p === '/console/api/transactions') {
        list(url.searchParams).then(
          (body) => json(res, 200, body),
          (err: unknown) => fail(res, err),
        );
      } else if (req.method === 'GET' && p.startsWith('/console/api/transactions/')) {
        Promise.resolve()
          .then(() => {
            let gid: string;
            try {
              gid = decodeURIComponent(p.slice('/console/api/transactions/'.length));
            } catch {
              throw new ConsoleInputError('gid: malformed');
            }
            return detail(gid);
          })
          .then(
          (body) => (body ? json(res, 200, body) : json(res, 404, { error: 'no such transaction' })),
          (err: unknown) => fail(res, err),
        );
      } else {
        json(res, 404, { error: 'not found' });
      }
    } else {
      send(res, 404, 'text/plain', 'not found\n');
    }
    return true;
  };
}
