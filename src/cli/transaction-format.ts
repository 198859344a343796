/** Human output of tccctl: the list table and a transaction's details. */
import { participantHint } from '../domain/participant-hint';
import { formatDueIn, formatDuration, formatInstant } from './durations';
import { oneLine, renderTable, truncate } from './text-table';
import { formatTimeline } from './timeline-format';
import type { BranchJson, PhaseLogJson, TransactionJson } from './transaction-json';

/** Room for the last error in a list row: enough to recognise it, short enough to keep rows on one line. */
const LIST_ERROR_WIDTH = 60;
const BRANCH_ERROR_WIDTH = 80;

export function formatListTable(txns: readonly TransactionJson[], now: number): string[] {
  const rows = txns.map((t) => [
    t.gid,
    t.status,
    t.stuck ? 'yes' : 'no',
    String(t.attempts),
    formatDuration(now - t.created_unix_ms),
    formatDueIn(t.next_retry_unix_ms, now),
    truncate(oneLine(t.last_error), LIST_ERROR_WIDTH) || '-',
  ]);
  return renderTable(['GID', 'STATUS', 'STUCK', 'ATTEMPTS', 'AGE', 'NEXT RETRY', 'LAST ERROR'], rows, { alignRight: [3, 4] });
}

const strip = (value: string, prefix: string) => (value.startsWith(prefix) ? value.slice(prefix.length) : value);

function formatBranches(branches: readonly BranchJson[], now: number): string[] {
  if (branches.length === 0) return ['  (no branches)'];
  const rows = branches.map((b) => [
    b.branch_id,
    b.participant,
    b.action,
    `${strip(b.try_outcome, 'TRY_')}${b.try_attempts > 1 ? ` (${b.try_attempts} tries)` : ''}`,
    strip(b.phase_two, 'PHASE_TWO_'),
    String(b.attempts),
    formatDueIn(b.next_retry_unix_ms, now),
    truncate(oneLine(b.last_error), BRANCH_ERROR_WIDTH) || '-',
  ]);
  return renderTable(['BRANCH', 'PARTICIPANT', 'ACTION', 'TRY', 'PHASE TWO', 'ATTEMPTS', 'NEXT RETRY', 'LAST ERROR'], rows, {
    alignRight: [5],
    indent: '  ',
  });
}

/** Per branch whose every recorded call failed alike (UNAVAILABLE, UNIMPLEMENTED): what to check. */
function branchHints(branches: readonly BranchJson[], logs: readonly PhaseLogJson[]): string[] {
  const out: string[] = [];
  for (const b of branches) {
    // Calls only: operator rows (a branch resolved by hand) have no gRPC code to weigh.
    const calls = logs.filter((l) => l.branch_id === b.branch_id && !l.operator).map((l) => ({ grpcCode: l.grpc_code }));
    const hint = participantHint(calls);
    if (hint) out.push(`  hint: branch ${b.branch_id} (${oneLine(b.participant)}): ${hint}`);
  }
  return out;
}

/** `tccctl show`: the transaction, its branches and its timeline. */
export function formatTransaction(t: TransactionJson, now: number): string[] {
  const field = (name: string, value: string) => `  ${name.padEnd(11)} ${value}`;
  const lines = [
    `TRANSACTION ${t.gid}`,
    field('status', `${t.status}${t.stuck ? '  (STUCK: phase two keeps failing)' : ''}`),
    field('created', `${formatInstant(t.created_unix_ms)} (${formatDuration(now - t.created_unix_ms)} ago)`),
    field('deadline', formatInstant(t.deadline_unix_ms)),
    field('decided', formatInstant(t.decided_unix_ms)),
    field('updated', formatInstant(t.updated_unix_ms)),
    field('attempts', String(t.attempts)),
    field('next retry', t.next_retry_unix_ms ? `${formatInstant(t.next_retry_unix_ms)} (${formatDueIn(t.next_retry_unix_ms, now)})` : '-'),
  ];
  if (t.owner) lines.push(field('owner', oneLine(t.owner)));
  if (t.reason) lines.push(field('reason', oneLine(t.reason)));
  if (t.last_error) lines.push(field('last error', oneLine(t.last_error)));
  lines.push('', 'BRANCHES', ...formatBranches(t.branches ?? [], now), ...branchHints(t.branches ?? [], t.logs ?? []));
  lines.push('', 'TIMELINE', ...formatTimeline(t.logs ?? []));
  return lines;
}

/** One line after an operation: where the transaction is now. */
export function summarizeTransaction(t: TransactionJson, now: number): string {
  const pending = (t.branches ?? []).filter((b) => b.phase_two === 'PHASE_TWO_PENDING');
  const parts = [`${t.gid}: ${t.status}`];
  if (t.stuck) parts.push('stuck');
  if (pending.length > 0) {
    parts.push(`${pending.length} branch${pending.length === 1 ? '' : 'es'} pending (${pending.map((b) => b.branch_id).join(', ')})`);
    // The branches' own times: the transaction's is the claim's end while a round is running.
    const retries = pending.map((b) => b.next_retry_unix_ms).filter((ms) => ms > 0);
    if (retries.length > 0) parts.push(`next retry ${formatDueIn(Math.min(...retries), now)}`);
    if (t.last_error) parts.push(`last error: ${truncate(oneLine(t.last_error), BRANCH_ERROR_WIDTH)}`);
  }
  if (t.reason) parts.push(`reason: ${oneLine(t.reason)}`);
  return parts.join('; ');
}
