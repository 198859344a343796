import * as grpc from '@grpc/grpc-js';
import type { ReloadableCertificates } from './reloadable-certificates';

/** Options of {@link createServerTlsCredentials}. */
export interface ServerTlsOptions {
  /** Refuse clients without a certificate signed by the CA (mutual TLS). Default false: a CA alone only verifies the certificates that are presented. */
  requireClientCert?: boolean;
  /** A TLS handshake not finished this long after the connection was accepted fails. Default 10 000. */
  handshakeTimeoutMs?: number;
}

/**
 * Server credentials from reloadable certificates: TLS with the certificate,
 * and client-certificate verification against the CA when there is one.
 */
export function createServerTlsCredentials(certs: ReloadableCertificates, options: ServerTlsOptions = {}): grpc.ServerCredentials {
  if (!certs.hasIdentity) throw new Error('a TLS server needs a certificate and key');
  const requireClientCert = options.requireClientCert ?? false;
  if (requireClientCert && !certs.hasCa) throw new Error('requiring client certificates needs a CA to verify them');
  // grpc-js passes its first provider the identity listener and its second the CA listener (the
  // declared parameter names say the opposite); one object serving both makes the order moot.
  const creds = grpc.experimental.createCertificateProviderServerCredentials(certs, certs.hasCa ? certs : null, requireClientCert);
  // grpc-js has no option for the TLS handshake timeout (Node's default is 120 s); its
  // constructor options are what it hands to http2.createSecureServer.
  const constructorOptions = creds._getConstructorOptions();
  const handshakeTimeout = options.handshakeTimeoutMs ?? 10_000;
  creds._getConstructorOptions = () => ({ ...constructorOptions, handshakeTimeout });
  return creds;
}

/** Channel credentials from reloadable certificates: the CA verifies the server; a certificate, when set, is presented as the client's. */
export function createChannelTlsCredentials(certs: ReloadableCertificates): grpc.ChannelCredentials {
  if (!certs.hasCa) throw new Error('a TLS client needs a CA to verify the server');
  return grpc.experimental.createCertificateProviderChannelCredentials(certs, certs.hasIdentity ? certs : null);
}
