/** A transaction's tcc_logs as a readable timeline, one line per call, decision or resolution. */
import { status } from '@grpc/grpc-js';
import { formatDuration, formatInstant } from './durations';
import { oneLine, renderTable } from './text-table';
import type { PhaseLogJson } from './transaction-json';

const CALL_PHASES = new Set(['try', 'confirm', 'cancel']);

function codeName(code: number): string {
  return status[code] ?? `code ${code}`;
}

/**
 * Chronological order: by start time, then row id. Rows are written when a
 * call ends, so id order puts a slow Try after a decision it preceded.
 */
export function orderTimeline(logs: readonly PhaseLogJson[]): PhaseLogJson[] {
  return [...logs].sort((a, b) => a.started_unix_ms - b.started_unix_ms || a.id - b.id);
}

/** Lines of the TIMELINE section (header included), or one line saying it is empty. */
export function formatTimeline(logs: readonly PhaseLogJson[]): string[] {
  if (logs.length === 0) return ['  (no entries)'];
  const rows = orderTimeline(logs);
  const origin = rows[0].started_unix_ms;
  const body = rows.map((l) => {
    const isCall = CALL_PHASES.has(l.phase);
    const detail: string[] = [];
    if (l.repeats > 0) detail.push(`${l.repeats + 1} failed attempts, the latest shown`);
    if (l.operator) detail.push(`operator: ${oneLine(l.operator)}`);
    if (l.error) detail.push(`${isCall ? 'error' : 'reason'}: ${oneLine(l.error)}`);
    return [
      `+${formatDuration(l.started_unix_ms - origin)}`,
      formatInstant(l.started_unix_ms),
      l.phase,
      l.branch_id || '-',
      isCall ? `#${l.attempt}` : '-',
      l.outcome || '-',
      isCall ? codeName(l.grpc_code) : '-',
      isCall ? formatDuration(l.duration_ms) : '-',
      l.node || '-',
      detail.join('  '),
    ];
  });
  return renderTable(['T+', 'TIME', 'PHASE', 'BRANCH', 'ATTEMPT', 'OUTCOME', 'CODE', 'DURATION', 'NODE', 'DETAIL'], body, {
    alignRight: [0, 7],
    indent: '  ',
  });
}
