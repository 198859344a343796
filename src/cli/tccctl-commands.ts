/** What each tccctl command does with the Admin API, and what it prints. */
import { status } from '@grpc/grpc-js';
import type { Transaction__Output } from '../generated/tcc/v1/Transaction';
import type { AdminApi } from './admin-client';
import { AdminCallError } from './admin-client';
import type { TccctlCommand } from './tccctl-args';
import { errorLine, exitCodeFor, type ErrorContext } from './tccctl-errors';
import { EXIT } from './tccctl-exit-codes';
import type { TccctlSettings } from './tccctl-settings';
import { formatListTable, formatTransaction, summarizeTransaction } from './transaction-format';
import { toTransactionJson } from './transaction-json';

/** What a command runs with; the streams and the clock are parameters so the commands stay testable. */
export interface CommandContext {
  api: AdminApi;
  settings: TccctlSettings;
  /** Writes to stdout (text as given; add the newline). */
  out: (text: string) => void;
  /** Writes to stderr. */
  err: (text: string) => void;
  now: () => number;
}

type ListCommand = Extract<TccctlCommand, { name: 'list' }>;

function printJson(ctx: CommandContext, value: unknown): void {
  ctx.out(`${JSON.stringify(value, null, 2)}\n`);
}

function printLines(ctx: CommandContext, lines: readonly string[]): void {
  ctx.out(lines.map((l) => `${l}\n`).join(''));
}

function errorContext(s: TccctlSettings): ErrorContext {
  return { addr: s.addr, timeoutMs: s.timeoutMs, tokenGiven: s.token !== undefined };
}

/**
 * Fetches one page, or every page from `pageToken` on. A coordinator that
 * handed back a token it already gave would otherwise loop forever.
 */
async function fetchList(api: AdminApi, cmd: Omit<ListCommand, 'name'>): Promise<{ transactions: Transaction__Output[]; nextPageToken: string }> {
  const transactions: Transaction__Output[] = [];
  const seen = new Set<string>();
  let token = cmd.pageToken;
  for (;;) {
    const page = await api.listTransactions({
      statuses: cmd.statuses,
      stuck_only: cmd.stuckOnly,
      older_than_ms: String(cmd.olderThanMs),
      participant: cmd.participant,
      limit: cmd.pageSize,
      page_token: token,
    });
    transactions.push(...page.transactions);
    token = page.next_page_token;
    if (!cmd.all || !token) return { transactions, nextPageToken: token };
    if (seen.has(token)) throw new AdminCallError('ListTransactions', status.INTERNAL, 'the coordinator returned the same page token twice');
    seen.add(token);
  }
}

async function list(cmd: ListCommand, ctx: CommandContext): Promise<number> {
  const { transactions, nextPageToken } = await fetchList(ctx.api, cmd);
  const items = transactions.map((t) => toTransactionJson(t, false));
  if (ctx.settings.json) {
    printJson(ctx, { transactions: items, next_page_token: nextPageToken });
    return EXIT.OK;
  }
  if (items.length === 0) {
    ctx.out('no transactions match\n');
  } else {
    printLines(ctx, formatListTable(items, ctx.now()));
    ctx.out(`\n${items.length} transaction${items.length === 1 ? '' : 's'}\n`);
  }
  if (nextPageToken) ctx.out(`more: add --page-token ${nextPageToken} for the next page, or --all for every page\n`);
  return EXIT.OK;
}

/** Prints the transaction an operation answered: JSON, or the one-line summary. */
function printOutcome(ctx: CommandContext, t: Transaction__Output, prefix: string): void {
  const json = toTransactionJson(t);
  if (ctx.settings.json) printJson(ctx, json);
  else ctx.out(`${prefix}${summarizeTransaction(json, ctx.now())}\n`);
}

interface RetryOutcome {
  gid: string;
  ok: boolean;
  /** After the retry, when it answered. */
  status?: string;
  stuck?: boolean;
  /** The failure, when the call failed. */
  error?: string;
  exit_code?: number;
}

/**
 * Every stuck transaction (all pages, listed first so retries that finish
 * some do not shift the pages under us), retried one after the other: a
 * retry runs a phase-two round inline, and a burst of them at a struggling
 * participant is what an operator wants least.
 */
async function retryStuck(ctx: CommandContext): Promise<number> {
  const { transactions } = await fetchList(ctx.api, {
    statuses: [],
    stuckOnly: true,
    olderThanMs: 0,
    participant: '',
    pageSize: 500,
    all: true,
    pageToken: '',
  });
  const outcomes: RetryOutcome[] = [];
  for (const { gid } of transactions) {
    try {
      const t = toTransactionJson(await ctx.api.retryTransaction(gid));
      outcomes.push({ gid, ok: true, status: t.status, stuck: t.stuck });
      if (!ctx.settings.json) ctx.out(`retried ${summarizeTransaction(t, ctx.now())}\n`);
    } catch (err) {
      const line = errorLine(err, errorContext(ctx.settings)).replace(/^tccctl: /, '');
      outcomes.push({ gid, ok: false, error: line, exit_code: exitCodeFor(err) });
      if (!ctx.settings.json) ctx.out(`FAILED ${gid}: ${line}\n`);
    }
  }
  const failed = outcomes.filter((o) => !o.ok);
  const finished = outcomes.filter((o) => o.ok && (o.status === 'CONFIRMED' || o.status === 'CANCELLED')).length;
  if (ctx.settings.json) {
    printJson(ctx, { retried: outcomes, total: outcomes.length, finished, failed: failed.length });
  } else if (outcomes.length === 0) {
    ctx.out('no stuck transactions\n');
  } else {
    ctx.out(`\n${outcomes.length} stuck transaction${outcomes.length === 1 ? '' : 's'} retried: ${finished} finished, ${outcomes.length - finished - failed.length} still pending, ${failed.length} failed\n`);
  }
  if (failed.length === 0) return EXIT.OK;
  if (!ctx.settings.json) ctx.err(`tccctl: ${failed.length} of ${outcomes.length} retries failed\n`);
  // One cause (e.g. all UNAVAILABLE) keeps its own code; mixed causes are a plain failure.
  const codes = new Set(failed.map((f) => f.exit_code));
  return codes.size === 1 ? [...codes][0]! : EXIT.FAILURE;
}

/** Runs one parsed command; resolves with the exit code, rejects with the failure of a single call. */
export async function runCommand(cmd: TccctlCommand, ctx: CommandContext): Promise<number> {
  const s = ctx.settings;
  switch (cmd.name) {
    case 'list':
      return list(cmd, ctx);
    case 'show': {
      const t = toTransactionJson(await ctx.api.getTransaction(cmd.gid));
      if (s.json) printJson(ctx, t);
      else printLines(ctx, formatTransaction(t, ctx.now()));
      return EXIT.OK;
    }
    case 'retry':
      printOutcome(ctx, await ctx.api.retryTransaction(cmd.gid), 'retried ');
      return EXIT.OK;
    case 'retry-stuck':
      return retryStuck(ctx);
    case 'abort':
      printOutcome(ctx, await ctx.api.abort(cmd.gid, cmd.reason, s.operator), 'aborted ');
      return EXIT.OK;
    case 'resolve': {
      const t = await ctx.api.resolveBranch(cmd.gid, cmd.branchId, cmd.reason, s.operator);
      const branch = t.branches.find((b) => b.branch_id === cmd.branchId);
      const state = branch ? String(branch.phase_two).replace(/^PHASE_TWO_/, '') : '?';
      printOutcome(ctx, t, `resolved branch ${cmd.branchId} (now ${state}) as ${s.operator}; `);
      return EXIT.OK;
    }
  }
}
