import { randomBytes } from 'node:crypto';

/**
 * A fencing token for one claim on a transaction, stored as its owner: the
 * node name (for operators) and 64 random bits. Only the holder of this very
 * claim may release it; a process restarted with the same TCC_NODE_ID, or a
 * round of an older claim of the same process, holds a different token. At
 * most 64 characters (the owner column).
 */
export function newClaimToken(node: string): string {
  return `${node.slice(0, 47)}/${randomBytes(8).toString('hex')}`;
}
