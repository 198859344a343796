import {
  InvalidPayloadError,
  TryRefusedError,
  type ActionHandlers,
  type BranchCall,
  type RedisChangeSet,
} from '../../src/participant';
import { BUSINESS_ID } from '../shared/service-config';
import type { InventoryStore } from './inventory-store';

/** Payload of `reserve`: which SKU, how many units (integer > 0). */
export interface ReservePayload {
  readonly sku: string;
  readonly qty: number;
}

/** The call's payload, validated (unknown fields refused: see accountPayloadOf). */
export function reservePayloadOf(call: BranchCall): ReservePayload {
  const body = call.json();
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidPayloadError(call.action, 'expected a JSON object {"sku": string, "qty": integer}');
  }
  const { sku, qty, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new InvalidPayloadError(call.action, `unexpected field(s) ${extra.join(', ')}`);
  if (typeof sku !== 'string' || !BUSINESS_ID.test(sku)) {
    throw new InvalidPayloadError(call.action, 'sku: expected 1-64 of A-Z a-z 0-9 . _ : -');
  }
  // Redis counters are checked in doubles by the barrier's script: stay within 2^53.
  if (typeof qty !== 'number' || !Number.isSafeInteger(qty) || qty <= 0) {
    throw new InvalidPayloadError(call.action, 'qty: expected a whole number from 1 to 2^53-1');
  }
  return { sku, qty };
}

/**
 * Guard of the phase-two moves out of `reserved`. Their Try put the units
 * there and the barrier runs each phase once, so it can only fail when the
 * data was changed behind the service's back; then nothing is applied and
 * the call fails (ABORTED, which the coordinator retries after phase one),
 * leaving the branch stuck and visible rather than `reserved` negative.
 */
const RESERVED_GUARD = { min: 0, refusal: 'reserved stock is below the quantity of this branch (changed outside the service?)' };

/**
 * The inventory's action, run by the Redis barrier: each phase only
 * DESCRIBES its changes on the change set `tx`, which the barrier's Lua
 * script applies in one atomic step together with its record of the call
 * (so each happens at most once per branch, and never after the branch's
 * Cancel). The functions run on every call, duplicates included, so they
 * have no side effects of their own.
 *
 * `reserve`: Try moves qty from `available` to `reserved` (refused: "unknown
 * sku", or "out of stock" when `available` would go below 0: the guard is
 * checked inside the script, so racing Tries cannot oversell); Confirm moves
 * it from `reserved` to `sold`; Cancel moves it back to `available`.
 */
export function inventoryActions(store: InventoryStore): Record<'reserve', ActionHandlers<RedisChangeSet>> {
  return {
    reserve: {
      async try(tx, call) {
        const { sku, qty } = reservePayloadOf(call);
        // A read, outside the atomic step, for a clearer reason only: SKUs are never deleted, and a missing
        // one would be refused by the guard anyway (a missing field counts as 0).
        if (!(await store.exists(sku))) throw new TryRefusedError('unknown sku');
        const key = store.stockKey(sku);
        tx.hincrby(key, 'available', -qty, { min: 0, refusal: 'out of stock' }).hincrby(key, 'reserved', qty);
        return undefined;
      },
      async confirm(tx, call) {
        const { sku, qty } = reservePayloadOf(call);
        const key = store.stockKey(sku);
        tx.hincrby(key, 'reserved', -qty, RESERVED_GUARD).hincrby(key, 'sold', qty);
      },
      async cancel(tx, call) {
        const { sku, qty } = reservePayloadOf(call);
        const key = store.stockKey(sku);
        tx.hincrby(key, 'reserved', -qty, RESERVED_GUARD).hincrby(key, 'available', qty);
      },
    },
  };
}
