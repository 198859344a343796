import { createHash, timingSafeEqual } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';

/** An Admin call without the configured bearer token. */
export class UnauthenticatedError extends Error {
  constructor() {
    super('admin calls need "authorization: Bearer <TCC_ADMIN_TOKEN>"');
    this.name = 'UnauthenticatedError';
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Checks `authorization: Bearer <token>`. Both sides are hashed first so the
 * comparison is constant-time whatever the lengths: timing tells nothing
 * about how much of the token matched.
 */
export function createAdminAuthorizer(token: string | undefined): (metadata: grpc.Metadata) => void {
  if (!token) return () => undefined;
  const expected = digest(token);
  return (metadata) => {
    const header = metadata.get('authorization')[0];
    const presented = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!timingSafeEqual(digest(presented), expected) || presented === '') throw new UnauthenticatedError();
  };
}
