import { createHash } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { ClientAuthMode } from '../config/config';

/** A Coordinator call without a valid client token or client certificate, when client authentication is on. */
export class ClientUnauthenticatedError extends Error {
  constructor(modes: readonly ClientAuthMode[]) {
    const how = modes.map((m) => (m === 'token' ? '"authorization: Bearer <client token>"' : 'a client certificate')).join(' or ');
    super(`coordinator calls need ${how}`);
    this.name = 'ClientUnauthenticatedError';
  }
}

/** A gid another identity began: it cannot be begun again under that gid. */
export class GidTakenError extends Error {
  constructor() {
    super('gid is in use by another client');
    this.name = 'GidTakenError';
  }
}

/** Options of {@link createClientAuthenticator}. */
export interface ClientAuthenticatorOptions {
  /** Accepted ways to authenticate (TCC_CLIENT_AUTH). Empty = authentication off. */
  modes: readonly ClientAuthMode[];
  /** Identity by token (TCC_CLIENT_TOKENS). Default none. */
  tokens?: ReadonlyMap<string, string>;
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Returns the caller's identity: the name of its bearer token, or the
 * subject CN of its verified client certificate. Undefined when
 * authentication is off; throws {@link ClientUnauthenticatedError} when on and
 * the call proves no identity. Tokens are looked up by their SHA-256, so
 * timing tells nothing about a token's characters.
 */
export function createClientAuthenticator(o: ClientAuthenticatorOptions): (call: grpc.ServerUnaryCall<unknown, unknown>) => string | undefined {
  if (o.modes.length === 0) return () => undefined;
  const byDigest = new Map([...(o.tokens ?? new Map<string, string>())].map(([token, id]) => [digest(token), id]));
  return (call) => {
    if (o.modes.includes('token')) {
      const header = call.metadata.get('authorization')[0];
      if (typeof header === 'string' && header.startsWith('Bearer ')) {
        const id = byDigest.get(digest(header.slice(7)));
        if (id !== undefined) return `token:${id}`;
      }
    }
    if (o.modes.includes('mtls')) {
      // Only verified certificates reach here: the server requires and checks them against TCC_TLS_CLIENT_CA.
      const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
      const name = Array.isArray(cn) ? cn[0] : cn;
      if (typeof name === 'string' && name !== '') return `cert:${name}`.slice(0, 128);
    }
    throw new ClientUnauthenticatedError(o.modes);
  };
}
