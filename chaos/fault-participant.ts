/**
 * The chaos suite's fault-injecting participant, built with the participant
 * SDK: action `points` moves units of one pool (`available` -> `held` at Try,
 * `held` -> `spent` at Confirm, back at Cancel) in its own SQLite file, behind
 * a SqlBarrier. What each call does is chosen by the client, per phase, in the
 * payload (the workload draws it from the seed):
 *
 * - `ok`: apply and answer OK;
 * - `refuse` (Try only): TryRefusedError, nothing applied;
 * - `error-before`: fail (INTERNAL) without applying;
 * - `error-after`: apply (the barrier records it), then fail: the caller does
 *   not know it was applied, and its retry must be a no-op;
 * - `hang`: answer only after `hangMs` (past the coordinator's deadline), then
 *   apply: a late call the barrier must order correctly;
 * - `twice`: the same call delivered twice at once (what a unary RPC cannot
 *   do on its own): the barrier must apply it once.
 *
 * A fault fires on the first delivery of a (gid, branch, phase) to this
 * process only: otherwise a Confirm failing every time would never finish.
 * Every applied change also appends a row to `fault_effects` in the same local
 * transaction, with no unique key, so the checker counts effects applied twice.
 */
import knexFactory, { type Knex } from 'knex';
import pino from 'pino';
import {
  InvalidPayloadError,
  migrateBarrierSchema,
  ParticipantServer,
  SqlBarrier,
  TryRefusedError,
  type ActionHandlers,
  type Barrier,
  type BarrierResult,
  type BranchCall,
} from '../src/participant';

export const FAULT_MODES = ['ok', 'refuse', 'error-before', 'error-after', 'hang', 'twice'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

/** Payload of action `points`. */
export interface FaultPayload {
  units: number;
  try: FaultMode;
  confirm: FaultMode;
  cancel: FaultMode;
}

/** The single pool of units; its total (available + held + spent) never changes. */
export const FAULT_POOL = 'pool';
export const FAULT_POOL_UNITS = 1_000_000_000;

function isMode(v: unknown): v is FaultMode {
  return typeof v === 'string' && (FAULT_MODES as readonly string[]).includes(v);
}

export function faultPayloadOf(call: BranchCall): FaultPayload {
  const body = call.json<Record<string, unknown> | null>();
  if (body === null || typeof body !== 'object') throw new InvalidPayloadError(call.action, 'expected a JSON object');
  const { units, try: t, confirm, cancel } = body;
  if (typeof units !== 'number' || !Number.isSafeInteger(units) || units <= 0) throw new InvalidPayloadError(call.action, 'units: expected a whole number >= 1');
  if (!isMode(t) || !isMode(confirm) || !isMode(cancel)) throw new InvalidPayloadError(call.action, 'try/confirm/cancel: expected a fault mode');
  return { units, try: t, confirm, cancel };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wraps the SQL barrier with the per-call faults (they must sit outside it: `error-after` fails after its commit). */
export class FaultingBarrier implements Barrier<Knex.Transaction> {
  private readonly delivered = new Set<string>();

  constructor(
    private readonly inner: Barrier<Knex.Transaction>,
    private readonly hangMs: number,
  ) {}

  async run<R>(call: BranchCall, business: (tx: Knex.Transaction) => Promise<R>): Promise<BarrierResult<R>> {
    const key = `${call.gid}/${call.branchId}/${call.phase}`;
    const first = !this.delivered.has(key);
    this.delivered.add(key);
    const mode: FaultMode = first ? faultPayloadOf(call)[call.phase] : 'ok';
    switch (mode) {
      case 'error-before':
        throw new Error('injected fault before applying');
      case 'hang':
        await sleep(this.hangMs);
        return this.inner.run(call, business);
      case 'error-after':
        await this.inner.run(call, business);
        throw new Error('injected fault after applying');
      case 'twice': {
        const [a, b] = await Promise.all([this.inner.run(call, business), this.inner.run(call, business)]);
        return a.outcome === 'duplicate' ? b : a;
      }
      default:
        return this.inner.run(call, business);
    }
  }
}

function pointsAction(): ActionHandlers<Knex.Transaction> {
  const effect = (tx: Knex.Transaction, call: BranchCall, units: number) =>
    tx('fault_effects').insert({ gid: call.gid, branch_id: call.branchId, phase: call.phase, units });
  return {
    async try(tx, call) {
      const p = faultPayloadOf(call);
      if (p.try === 'refuse') throw new TryRefusedError('injected refusal');
      const n = await tx('points')
        .where({ id: FAULT_POOL })
        .andWhere('available', '>=', p.units)
        .update({ available: tx.raw('available - ?', [p.units]), held: tx.raw('held + ?', [p.units]) });
      if (n !== 1) throw new TryRefusedError('pool exhausted');
      await effect(tx, call, p.units);
      return undefined;
    },
    async confirm(tx, call) {
      const p = faultPayloadOf(call);
      await tx('points').where({ id: FAULT_POOL }).update({ held: tx.raw('held - ?', [p.units]), spent: tx.raw('spent + ?', [p.units]) });
      await effect(tx, call, p.units);
    },
    async cancel(tx, call) {
      const p = faultPayloadOf(call);
      await tx('points').where({ id: FAULT_POOL }).update({ held: tx.raw('held - ?', [p.units]), available: tx.raw('available + ?', [p.units]) });
      await effect(tx, call, p.units);
    },
  };
}

/** Opens (creating when new) the participant's SQLite file: barrier table, pool and effect log. */
export async function openFaultDatabase(file: string): Promise<Knex> {
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
  await migrateBarrierSchema(knex);
  await knex.raw(
    'CREATE TABLE IF NOT EXISTS points (id TEXT PRIMARY KEY, available INTEGER NOT NULL, held INTEGER NOT NULL DEFAULT 0, spent INTEGER NOT NULL DEFAULT 0)',
  );
  await knex.raw(
    'CREATE TABLE IF NOT EXISTS fault_effects (id INTEGER PRIMARY KEY AUTOINCREMENT, gid TEXT NOT NULL, branch_id TEXT NOT NULL, phase TEXT NOT NULL, units INTEGER NOT NULL)',
  );
  await knex.raw('INSERT OR IGNORE INTO points (id, available) VALUES (?, ?)', [FAULT_POOL, FAULT_POOL_UNITS]);
  return knex;
}

/** Serves the fault participant on `address`; resolves with the bound address. */
export async function startFaultParticipant(file: string, address: string, hangMs: number): Promise<{ address: string; knex: Knex }> {
  const knex = await openFaultDatabase(file);
  const server = new ParticipantServer({
    barrier: new FaultingBarrier(new SqlBarrier(knex), hangMs),
    actions: { points: pointsAction() },
    // Injected errors would flood the output; the runner reads only the ready line.
    logger: pino({ level: 'silent' }),
  });
  return { address: await server.listen(address), knex };
}
