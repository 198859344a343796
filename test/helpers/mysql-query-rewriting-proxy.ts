/**
 * A loopback TCP proxy in front of a MySQL/MariaDB server that rewrites
 * matching text queries (COM_QUERY packets) sent by the client, e.g. to play
 * a proxy or pooler that drops or changes `SET TRANSACTION`. Everything else,
 * and every byte from the server, passes through unchanged. No TLS, no
 * protocol compression (mysql2 uses neither unless asked).
 */
import * as net from 'node:net';

const COM_QUERY = 0x03;

export interface MysqlQueryRewritingProxy {
  /** Loopback port the proxy listens on. */
  readonly port: number;
  /** Queries rewritten so far. */
  readonly rewritten: number;
  close(): Promise<void>;
}

/** Starts the proxy on 127.0.0.1:<free port>, forwarding to `target`; `rewrite` answers the new SQL or undefined to keep it. */
export async function startMysqlQueryRewritingProxy(
  target: { host: string; port: number },
  rewrite: (sql: string) => string | undefined,
): Promise<MysqlQueryRewritingProxy> {
  const sockets = new Set<net.Socket>();
  let rewritten = 0;

  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.on('data', (chunk: Buffer) => client.write(chunk));

    // Client → server: split into packets (3-byte little-endian length, 1-byte sequence, payload).
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const length = pending.readUIntLE(0, 3);
        if (pending.length < 4 + length) break;
        const seq = pending[3];
        let payload = pending.subarray(4, 4 + length);
        pending = pending.subarray(4 + length);
        if (seq === 0 && payload[0] === COM_QUERY) {
          const replacement = rewrite(payload.subarray(1).toString('utf8'));
          if (replacement !== undefined) {
            rewritten++;
            payload = Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(replacement, 'utf8')]);
          }
        }
        const header = Buffer.alloc(4);
        header.writeUIntLE(payload.length, 0, 3);
        header[3] = seq;
        upstream.write(Buffer.concat([header, payload]));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get rewritten() {
      return rewritten;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
