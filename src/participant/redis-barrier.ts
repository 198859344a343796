import type Redis from 'ioredis';
import type { Barrier, BarrierResult } from './barrier';
import type { BranchCall, BranchPhase } from './branch-call';
import { BarrierViolationError, TryRefusedError, TrySuspendedError } from './errors';
import { RedisChangeSet, refusalOf, sealChangeSet, type RedisChange } from './redis-change-set';
import { barrierScripts } from './redis-scripts';

/** Options of {@link RedisBarrier}. */
export interface RedisBarrierOptions {
  /**
   * The ioredis client the barrier runs its scripts on (required). The
   * barrier defines its three commands on it once (`defineCommand`: EVALSHA,
   * falling back to EVAL when Redis lost the script); it neither connects
   * nor closes it. A `keyPrefix` set on the client applies to the barrier's
   * keys and the business keys alike.
   */
  readonly redis: Redis;
  /**
   * Prefix of the barrier records: a branch's record is the hash
   * `${keyPrefix}${gid}/${branchId}`. Default `tcc:barrier:`. In Redis
   * Cluster, put a hash tag here and in the business keys so that a call's
   * keys share one slot.
   */
  readonly keyPrefix?: string;
  /**
   * How long the record of a FINISHED branch (Confirm or Cancel done, or an
   * empty rollback) is kept, in ms. Default 7 days. Until then, duplicates and
   * a Try arriving after its Cancel are recognised; afterwards a late Try
   * would run again, so this must exceed how late the coordinator may deliver
   * a call (its phase-two retries go on for as long as it takes). A record
   * holding only a Try never expires: a Cancel retried days later must still
   * find it, or it would be an empty rollback leaving the reservation frozen.
   */
  readonly ttlMs?: number;
}

/** Default {@link RedisBarrierOptions.keyPrefix}. */
export const DEFAULT_REDIS_BARRIER_PREFIX = 'tcc:barrier:';
/** Default {@link RedisBarrierOptions.ttlMs}: 7 days. */
export const DEFAULT_REDIS_BARRIER_TTL_MS = 7 * 24 * 60 * 60 * 1000;

const COMMANDS: Readonly<Record<BranchPhase, string>> = {
  try: 'tccBarrierTry',
  confirm: 'tccBarrierConfirm',
  cancel: 'tccBarrierCancel',
};

type ScriptCommand = (numKeys: number, ...keysAndArgs: string[]) => Promise<unknown>;

// defineCommand replaces the command on every call; once per client is enough,
// however many barriers share it.
const prepared = new WeakSet<Redis>();

function commandsOf(redis: Redis): Readonly<Record<string, ScriptCommand>> {
  if (!prepared.has(redis)) {
    const scripts = barrierScripts();
    for (const phase of ['try', 'confirm', 'cancel'] as const) {
      redis.defineCommand(COMMANDS[phase], { lua: scripts[phase] });
    }
    prepared.add(redis);
  }
  return redis as unknown as Readonly<Record<string, ScriptCommand>>;
}

/**
 * The participant barrier on Redis: each call is one Lua script run that
 * checks and writes the branch's barrier record together with the call's
 * business changes (a {@link RedisChangeSet}), so a change is applied at most
 * once per branch and never after the branch's Cancel, even when calls of one
 * branch race on different connections or processes.
 *
 * A branch's record is one hash, `${keyPrefix}${gid}/${branchId}`, with the
 * fields `try` ('try', or 'cancel' after an empty rollback) and `phase2`
 * ('confirm' | 'cancel'). It has no TTL while the branch may still get its
 * phase two, and expires `ttlMs` after phase two is written.
 *
 * The separator is '/', which the coordinator never allows in ids
 * (A-Z a-z 0-9 . _ : -): with ':' (allowed in ids) gid `a:b` + branch `c`
 * and gid `a` + branch `b:c` would share one record.
 */
export class RedisBarrier implements Barrier<RedisChangeSet> {
  private readonly redis: Redis;
  private readonly keyPrefix: string;
  private readonly ttlMs: number;

  constructor(options: RedisBarrierOptions) {
    if (!options?.redis) throw new TypeError('RedisBarrier: options.redis (an ioredis client) is required');
    const keyPrefix = options.keyPrefix ?? DEFAULT_REDIS_BARRIER_PREFIX;
    if (typeof keyPrefix !== 'string') throw new TypeError('RedisBarrier: keyPrefix must be a string');
    const ttlMs = options.ttlMs ?? DEFAULT_REDIS_BARRIER_TTL_MS;
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`RedisBarrier: ttlMs must be a positive integer (got ${String(ttlMs)})`);
    this.redis = options.redis;
    this.keyPrefix = keyPrefix;
    this.ttlMs = ttlMs;
    // Reads the scripts now, so that missing .lua files fail at start, not on the first call.
    commandsOf(this.redis);
  }

  /** The key of a branch's barrier record. */
  keyOf(gid: string, branchId: string): string {
    if (typeof gid !== 'string' || gid.length === 0) throw new TypeError('RedisBarrier: empty gid');
    if (typeof branchId !== 'string' || branchId.length === 0) throw new TypeError('RedisBarrier: empty branch id');
    if (gid.includes('/') || branchId.includes('/')) throw new TypeError("RedisBarrier: ids must not contain '/'");
    return `${this.keyPrefix}${gid}/${branchId}`;
  }

  /**
   * Runs `business` to build the call's change set (its result is the
   * `applied` value), then, in one atomic script: the barrier check, the
   * guards, the changes and the barrier record. The business function runs
   * on every call, duplicates included; only its changes are conditional.
   *
   * Throws {@link TrySuspendedError} (Try after Cancel), {@link BarrierViolationError}
   * (Confirm after Cancel, Cancel after Confirm, Confirm without Try) and
   * {@link TryRefusedError} (a guard failed: nothing written, the call may be
   * retried); whatever `business` or Redis throws passes through, with
   * nothing written.
   */
  async run<R>(call: BranchCall, business: (tx: RedisChangeSet) => Promise<R>): Promise<BarrierResult<R>> {
    const command = COMMANDS[call.phase];
    if (command === undefined) throw new TypeError(`RedisBarrier: unknown phase ${String(call.phase)}`);
    const barrierKey = this.keyOf(call.gid, call.branchId);
    const changeSet = new RedisChangeSet();
    let value: R;
    let changes: readonly RedisChange[];
    try {
      value = await business(changeSet);
    } finally {
      changes = sealChangeSet(changeSet);
    }
    const { keys, args } = encode(barrierKey, changes);
    const answer = await commandsOf(this.redis)[command](1 + keys.length, barrierKey, ...keys, String(this.ttlMs), ...args);
    return interpret(answer, call, changes, value);
  }
}

/** KEYS[2..] and ARGV[2..] of the scripts (layout in lua/apply-changes.lua). */
function encode(barrierKey: string, changes: readonly RedisChange[]): { keys: string[]; args: string[] } {
  const keyIndex = new Map<string, number>();
  const keys: string[] = [];
  const args: string[] = [String(changes.length)];
  for (const change of changes) {
    if (change.key === barrierKey) throw new TypeError(`RedisChangeSet: ${change.key} is the barrier record of this branch`);
    let index = keyIndex.get(change.key);
    if (index === undefined) {
      keys.push(change.key);
      index = keys.length + 1; // KEYS[1] is the barrier record
      keyIndex.set(change.key, index);
    }
    if (change.kind === 'hset') {
      args.push('hset', String(index), change.field, change.value, '', '');
    } else {
      const field = change.kind === 'hincrby' ? change.field : '';
      args.push(change.kind, String(index), field, String(change.delta), bound(change.guard?.min), bound(change.guard?.max));
    }
  }
  return { keys, args };
}

function bound(value: number | undefined): string {
  return value === undefined ? '' : String(value);
}

function interpret<R>(answer: unknown, call: BranchCall, changes: readonly RedisChange[], value: R): BarrierResult<R> {
  const [kind, detail, bound] = Array.isArray(answer) ? (answer as unknown[]) : [];
  switch (kind) {
    case 'applied':
      return { outcome: 'applied', value };
    case 'duplicate':
      return { outcome: 'duplicate' };
    case 'empty-rollback':
      if (call.phase === 'cancel') return { outcome: 'empty-rollback' };
      break;
    case 'suspended':
      if (call.phase === 'try') throw new TrySuspendedError(call.gid, call.branchId);
      break;
    case 'violation':
      if (detail === 'confirmed' || detail === 'cancelled' || detail === 'not-tried') {
        throw new BarrierViolationError(call.gid, call.branchId, call.phase, detail);
      }
      break;
    case 'refused': {
      const change = typeof detail === 'number' ? changes[detail - 1] : undefined;
      if (change !== undefined && (bound === 'min' || bound === 'max')) throw new TryRefusedError(refusalOf(change, bound));
      break;
    }
  }
  // Only a script from another version could answer this; its meaning is unknown.
  throw new Error(`RedisBarrier: unexpected answer from the ${call.phase} script`);
}
