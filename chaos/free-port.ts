import * as net from 'node:net';

/**
 * A TCP port free on 127.0.0.1 right now. The chaos suite picks its ports
 * once and keeps them: coordinators store participant targets, and a
 * participant restarted on another port would never be reached again.
 */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
