import * as net from 'node:net';
import type * as grpc from '@grpc/grpc-js';

/** Options of {@link listenGrpc}. */
export interface GrpcListenerOptions {
  /** `host:port` to listen on (a bracketed IPv6 host is allowed); port 0 picks a free one. No default. */
  address: string;
  /** Plaintext or TLS credentials of the server. No default. */
  credentials: grpc.ServerCredentials;
  /** Most connections open at once; a connection past it is closed as soon as it is accepted. No default. */
  maxConnections: number;
  /**
   * A connection that has not sent the HTTP/2 connection preface (24 bytes;
   * under TLS, the handshake sends more) this long after it was accepted is
   * closed. No default.
   */
  handshakeTimeoutMs: number;
}

/** A listening socket feeding a grpc-js server. */
export interface GrpcListener {
  /** Port actually bound (resolves port 0). */
  readonly port: number;
  /** Connections open now. */
  connectionCount(): number;
  /** Stops accepting; open connections are left to the grpc server's shutdown. */
  stopAccepting(): void;
  /** Closes every connection still open (call after the grpc server's shutdown: it drains calls first). */
  destroy(): void;
}

/** Length of the HTTP/2 client connection preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"). */
const HTTP2_PREFACE_BYTES = 24;

/**
 * Listens with our own net.Server and hands each connection to the grpc-js
 * server (its connection injector). grpc-js's bindAsync has no bound on the
 * number of connections nor on how long one may stay silent before its
 * handshake, so an attacker could hold every file descriptor with idle TCP
 * connections; here both are bounded.
 */
export async function listenGrpc(server: grpc.Server, o: GrpcListenerOptions): Promise<GrpcListener> {
  const injector = server.createConnectionInjector(o.credentials);
  const sep = o.address.lastIndexOf(':');
  const host = o.address.slice(0, sep).replace(/^\[(.*)\]$/, '$1');
  const port = Number(o.address.slice(sep + 1));
  const sockets = new Set<net.Socket>();
  const listener = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // The injected socket's errors are the http2 session's to report; without a listener one would crash the process.
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      if (socket.bytesRead < HTTP2_PREFACE_BYTES) socket.destroy();
    }, o.handshakeTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    injector.injectConnection(socket);
  });
  // Node closes connections past this count on accept, before any byte is read.
  listener.maxConnections = o.maxConnections;
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen({ host, port, backlog: 511 }, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  return {
    port: (listener.address() as net.AddressInfo).port,
    connectionCount: () => sockets.size,
    stopAccepting: () => {
      listener.close();
    },
    destroy: () => {
      listener.close();
      for (const s of sockets) s.destroy();
    },
  };
}
