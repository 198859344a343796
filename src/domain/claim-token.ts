import { randomBytes } from 'node:crypto';

/**
 * A fencing token for one claim on a transaction, stored as its owner: the
 * node name (for operators) and 64 random bits. Only the holder of this very
 * claim may release it; a process restarted with the same TCC_NODE_ID, or a
 * round of an older claim of the same process, holds a different token. At
 * most 64 characters (the owner column).
 */
export function newClaimToken(node: string): string {
  return `${node.slice(0, 47)}/${randomHex8()}`;
}

/**
 * Random bytes drawn a pool at a time: one `randomBytes` per token was ~1 % of
 * the coordinator's CPU under load (each call crosses into the CSPRNG).
 * Every byte is used once, so tokens stay as random and as distinct.
 */
const POOL_BYTES = 4_096;
let pool = Buffer.alloc(0);
let poolAt = 0;

/** 8 random bytes as 16 hex digits. */
function randomHex8(): string {
  if (poolAt + 8 > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolAt = 0;
  }
  const hex = pool.toString('hex', poolAt, poolAt + 8);
  poolAt += 8;
  return hex;
}
