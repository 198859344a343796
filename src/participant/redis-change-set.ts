/**
 * Bounds an increment must keep its result within, or the whole call is
 * refused: nothing of the change set is applied and no barrier record is
 * written, so the same call may run again later (e.g. once stock is added).
 */
export interface RedisGuard {
  /** Smallest allowed result (inclusive); default: no lower bound. A safe integer. */
  readonly min?: number;
  /** Largest allowed result (inclusive); default: no upper bound. A safe integer. */
  readonly max?: number;
  /**
   * The refusal reason (`TryRefusedError`'s message, which reaches the
   * coordinator and its client: no secrets). Default: names the key (and
   * field) and the bound, e.g. `stock:X1 available would go below 0`.
   */
  readonly refusal?: string;
}

/** One change, as the barrier scripts take it. */
export type RedisChange =
  | { readonly kind: 'hincrby'; readonly key: string; readonly field: string; readonly delta: number; readonly guard?: RedisGuard }
  | { readonly kind: 'incrby'; readonly key: string; readonly delta: number; readonly guard?: RedisGuard }
  | { readonly kind: 'hset'; readonly key: string; readonly field: string; readonly value: string };

type KeyType = 'hash' | 'string';

interface ChangeSetState {
  readonly changes: RedisChange[];
  readonly keyTypes: Map<string, KeyType>;
  sealed: boolean;
}

// Kept off the instance so that business code sees only the builder methods.
const states = new WeakMap<RedisChangeSet, ChangeSetState>();

/**
 * The business changes of one barrier call (the `Tx` of `RedisBarrier`): the
 * barrier's Lua script applies them in the same atomic step as its barrier
 * record, in the order they were added, all or none.
 *
 * The business function only describes changes; they are applied after it
 * resolves, and only if the barrier lets the call through. It runs on every
 * call, duplicates included, so it must have no other side effects. Inputs
 * are checked here, before anything reaches Redis; values Redis holds are
 * checked by the script before its first write (a key of another type, a
 * counter that is not an integer within ±(2^53-1)), which then fails the call
 * with nothing applied.
 *
 * In Redis Cluster, every key of a change set must hash to the barrier key's
 * slot (use hash tags in the keys and in the barrier's `keyPrefix`).
 */
export class RedisChangeSet {
  constructor() {
    states.set(this, { changes: [], keyTypes: new Map(), sealed: false });
  }

  /** Adds `delta` to hash field `key` `field` (HINCRBY; a missing field counts as 0). */
  hincrby(key: string, field: string, delta: number, guard?: RedisGuard): this {
    const state = this.open('hincrby');
    checkKey(key, 'hincrby');
    checkField(field, 'hincrby');
    checkInteger(delta, 'hincrby delta');
    this.claim(state, key, 'hash');
    state.changes.push({ kind: 'hincrby', key, field, delta, ...checkGuard(guard, 'hincrby') });
    return this;
  }

  /** Adds `delta` to string key `key` (INCRBY; a missing key counts as 0). */
  incrby(key: string, delta: number, guard?: RedisGuard): this {
    const state = this.open('incrby');
    checkKey(key, 'incrby');
    checkInteger(delta, 'incrby delta');
    this.claim(state, key, 'string');
    state.changes.push({ kind: 'incrby', key, delta, ...checkGuard(guard, 'incrby') });
    return this;
  }

  /** Sets hash field `key` `field` (HSET); a number is stored as `String(value)`. */
  hset(key: string, field: string, value: string | number): this {
    const state = this.open('hset');
    checkKey(key, 'hset');
    checkField(field, 'hset');
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new RangeError(`hset value: ${value} is not a finite number`);
    } else if (typeof value !== 'string') {
      throw new TypeError('hset value: a string or a number');
    }
    this.claim(state, key, 'hash');
    state.changes.push({ kind: 'hset', key, field, value: String(value) });
    return this;
  }

  /** The changes added so far, in order. */
  get changes(): readonly RedisChange[] {
    return [...stateOf(this).changes];
  }

  private open(method: string): ChangeSetState {
    const state = stateOf(this);
    // A change added after the business function resolved (a stray callback)
    // would silently not be applied: make it loud instead.
    if (state.sealed) throw new Error(`RedisChangeSet.${method}: the change set was already handed to the barrier`);
    return state;
  }

  private claim(state: ChangeSetState, key: string, type: KeyType): void {
    // The script checks key types against what Redis holds before writing,
    // but a key that does not exist yet and is used both ways would fail
    // halfway through the writes.
    const known = state.keyTypes.get(key);
    if (known !== undefined && known !== type) throw new TypeError(`key ${key} is used both as a hash and as a string`);
    state.keyTypes.set(key, type);
  }
}

/**
 * Freezes a change set and returns its changes: the barrier's side of the
 * builder, not part of what business functions see.
 */
export function sealChangeSet(changeSet: RedisChangeSet): readonly RedisChange[] {
  const state = stateOf(changeSet);
  state.sealed = true;
  return state.changes;
}

/** The refusal reason of a change whose guard failed on `bound`. */
export function refusalOf(change: RedisChange, bound: 'min' | 'max'): string {
  if (change.kind === 'hset' || !change.guard) throw new Error(`a ${change.kind} change without a guard cannot be refused`);
  if (change.guard.refusal !== undefined) return change.guard.refusal;
  const target = change.kind === 'hincrby' ? `${change.key} ${change.field}` : change.key;
  return bound === 'min' ? `${target} would go below ${change.guard.min}` : `${target} would go above ${change.guard.max}`;
}

function stateOf(changeSet: RedisChangeSet): ChangeSetState {
  const state = states.get(changeSet);
  if (!state) throw new TypeError('not a RedisChangeSet');
  return state;
}

function checkKey(key: string, method: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new TypeError(`${method}: key must be a non-empty string`);
}

function checkField(field: string, method: string): void {
  if (typeof field !== 'string' || field.length === 0) throw new TypeError(`${method}: field must be a non-empty string`);
}

function checkInteger(value: number, what: string): void {
  // Lua compares in doubles: only safe integers survive the trip exactly.
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what}: ${String(value)} is not an integer within ±(2^53-1)`);
}

function checkGuard(guard: RedisGuard | undefined, method: string): { guard?: RedisGuard } {
  if (guard === undefined) return {};
  if (guard === null || typeof guard !== 'object') throw new TypeError(`${method} guard: an object`);
  const { min, max, refusal } = guard;
  if (min !== undefined) checkInteger(min, `${method} guard min`);
  if (max !== undefined) checkInteger(max, `${method} guard max`);
  if (min !== undefined && max !== undefined && min > max) throw new RangeError(`${method} guard: min ${min} is above max ${max}`);
  if (refusal !== undefined && (typeof refusal !== 'string' || refusal.length === 0)) {
    throw new TypeError(`${method} guard refusal: a non-empty string`);
  }
  if (min === undefined && max === undefined) return {};
  // A copy: the caller's object may change before the barrier uses it.
  return { guard: { min, max, refusal } };
}
