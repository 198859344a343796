import { expect } from 'chai';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { ConfigError, loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { GidGenerator } from '../src/engine/gid';
import { loadTccProto } from '../src/protocol/tcc-proto';
import type { AdminClient } from '../src/generated/tcc/v1/Admin';
import { createCoordinatorClient, expectGrpcError, type TestCoordinatorClient } from './helpers/backends';
import { spawnCoordinator, killHard } from './helpers/coordinator-process';

const TOKEN = 'secure-defaults-token-0123456789';
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function randomPart(gid: string): bigint {
  let v = 0n;
  for (const ch of gid.slice(10)) v = v * 32n + BigInt(CROCKFORD.indexOf(ch));
  return v;
}

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, dest), lines };
}

describe('secure defaults', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-secure-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = () => `sqlite:${path.join(dir, `${Math.random().toString(36).slice(2)}.sqlite`)}`;

  describe('the Admin API off loopback needs a token', () => {
    it('refuses a non-loopback TCC_GRPC_ADDR without TCC_ADMIN_TOKEN, naming the opt-out', () => {
      for (const addr of ['0.0.0.0:50051', '10.1.2.3:50051', '[::]:50051', 'coordinator.internal:50051']) {
        expect(() => loadConfig({ TCC_GRPC_ADDR: addr }), addr).to.throw(ConfigError, /TCC_ADMIN_TOKEN: required .*TCC_ALLOW_UNAUTHENTICATED_ADMIN=true/);
      }
      for (const addr of ['127.0.0.1:50051', '127.9.9.9:1', 'localhost:50051', '[::1]:50051']) {
        expect(loadConfig({ TCC_GRPC_ADDR: addr }).grpcAddr, addr).to.equal(addr);
      }
      expect(loadConfig({ TCC_GRPC_ADDR: '0.0.0.0:50051', TCC_ADMIN_TOKEN: TOKEN }).adminToken).to.equal(TOKEN);
      expect(loadConfig({ TCC_GRPC_ADDR: '0.0.0.0:50051', TCC_ALLOW_UNAUTHENTICATED_ADMIN: 'true' }).allowUnauthenticatedAdmin).to.equal(true);
      expect(() => loadConfig({ TCC_ALLOW_UNAUTHENTICATED_ADMIN: 'yes' })).to.throw(ConfigError, /TCC_ALLOW_UNAUTHENTICATED_ADMIN/);
    });

    it('exits 2 as a process before binding anything', async () => {
      const err = await spawnCoordinator({ TCC_DB_URL: db(), TCC_GRPC_ADDR: '0.0.0.0:0' }).then(
        async (p) => {
          await killHard(p);
          return undefined;
        },
        (e: unknown) => e as Error,
      );
      expect(err?.message).to.match(/exited \(2\).*TCC_ADMIN_TOKEN: required/s);
    });

    it('logs the opt-out loudly', async () => {
      const { logger, lines } = capture();
      const c = await startCoordinator(loadConfig({ TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: db(), TCC_ALLOW_UNAUTHENTICATED_ADMIN: 'true' }), { logger });
      await c.shutdown();
      expect(lines.some((l) => l.level === 40 && /^SECURITY: the Admin API .* WITHOUT authentication/.test(String(l.msg)))).to.equal(true);
    });
  });

  describe('audit lines for mutating Admin calls', () => {
    let coordinator: RunningCoordinator;
    let admin: AdminClient;
    let client: TestCoordinatorClient;
    let lines: Record<string, unknown>[];

    before(async () => {
      const cap = capture();
      lines = cap.lines;
      coordinator = await startCoordinator(loadConfig({ TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: db(), TCC_ADMIN_TOKEN: TOKEN }), { logger: cap.logger });
      admin = new (loadTccProto().grpcObject.tcc.v1.Admin)(coordinator.address, grpc.credentials.createInsecure());
      client = createCoordinatorClient(coordinator.address);
    });
    after(async () => {
      admin?.close();
      client?.close();
      await coordinator?.shutdown();
    });

    const abort = (gid: string, token: string) =>
      new Promise<void>((resolve, reject) => {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${token}`);
        admin.Abort({ gid, reason: 'test', operator: 'alice' }, md, { deadline: Date.now() + 5_000 }, (err) => (err ? reject(err) : resolve()));
      });

    it('writes one line per call with operator, peer and outcome, also for refused calls', async () => {
      const { gid } = await client.begin({});
      await abort(gid, TOKEN);
      await expectGrpcError(abort('no-such-gid', TOKEN), grpc.status.NOT_FOUND);
      await expectGrpcError(abort(gid, 'wrong-token-wrong-token'), grpc.status.UNAUTHENTICATED);
      const audit = lines.filter((l) => l.audit === true);
      expect(audit.map((l) => [l.method, l.gid, l.operator, l.outcome])).to.deep.equal([
        ['Abort', gid, 'alice', 'OK'],
        ['Abort', 'no-such-gid', 'alice', 'NOT_FOUND'],
        ['Abort', gid, 'alice', 'UNAUTHENTICATED'],
      ]);
      for (const l of audit) expect(String(l.peer)).to.match(/^127\.0\.0\.1:\d+$/);
    });
  });

  describe('gids', () => {
    it('are strictly increasing within one millisecond, with neighbours that cannot be guessed', () => {
      const gen = new GidGenerator(() => 1_700_000_000_000);
      const gids = Array.from({ length: 2_000 }, () => gen.next());
      for (let i = 1; i < gids.length; i++) {
        expect(gids[i] > gids[i - 1], `${gids[i - 1]} < ${gids[i]}`).to.equal(true);
        if (gids[i].slice(0, 10) === gids[i - 1].slice(0, 10)) {
          // A step below 2^20 happens with probability 2^-44 per id; +1 (ULID monotonicity) every time.
          expect(randomPart(gids[i]) - randomPart(gids[i - 1]) > 1n << 20n).to.equal(true);
        }
      }
    });

    it('moves to the next millisecond instead of wrapping the random part', () => {
      const gen = new GidGenerator(() => 1_700_000_000_000);
      const first = gen.next();
      (gen as unknown as { lastRandom: Buffer }).lastRandom = Buffer.alloc(10, 0xff);
      const next = gen.next();
      expect(next > first).to.equal(true);
      expect(next.slice(0, 10)).to.not.equal(first.slice(0, 10));
    });
  });

  describe('errors about a participant name the class of failure only', () => {
    let coordinator: RunningCoordinator;
    let client: TestCoordinatorClient;
    const servers: Array<{ close(): unknown }> = [];
    const sockets = new Set<net.Socket>();

    before(async () => {
      coordinator = await startCoordinator(loadConfig({ TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: db(), TCC_BRANCH_TIMEOUT_MS: '4000' }), {
        logger: pino({ level: 'silent' }),
      });
      client = createCoordinatorClient(coordinator.address);
    });
    after(async () => {
      client?.close();
      for (const s of sockets) s.destroy();
      for (const s of servers) s.close();
      await coordinator?.shutdown();
    });

    async function listen(server: net.Server): Promise<number> {
      servers.push(server);
      server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return (server.address() as net.AddressInfo).port;
    }

    async function tryOn(port: number): Promise<string> {
      const { gid } = await client.begin({});
      const err = await expectGrpcError(
        client.try({ gid, branch: { participant: `127.0.0.1:${port}`, action: 'x', payload: Buffer.from('p') } }),
        [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED],
      );
      const txn = await client.getTransaction({ gid });
      return `${err.details}\n${JSON.stringify(txn)}`;
    }

    it('an HTTP server, a banner-writing service, a closed port, a black hole and a non-participant gRPC server', async () => {
      const httpPort = await listen(
        http.createServer((_req, res) => {
          res.writeHead(418, 'SECRET-STATUS-LINE');
          res.end('SECRET-HTTP-BODY');
        }),
      );
      const bannerPort = await listen(net.createServer((s) => s.end('-ERR SECRET-BANNER unknown command\r\n')));
      const holePort = await listen(net.createServer(() => undefined));
      const closed = net.createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const closedPort = (closed.address() as net.AddressInfo).port;
      await new Promise((r) => closed.close(r));
      const grpcServer = new grpc.Server();
      const grpcPort = await new Promise<number>((resolve, reject) =>
        grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
      );
      servers.push({ close: () => grpcServer.forceShutdown() });

      const seen = {
        http: await tryOn(httpPort),
        banner: await tryOn(bannerPort),
        closed: await tryOn(closedPort),
        hole: await tryOn(holePort),
        grpc: await tryOn(grpcPort),
      };
      for (const [what, text] of Object.entries(seen)) {
        expect(text, what).to.not.match(/SECRET|\b418\b|HTTP|ECONNREFUSED|Protocol error|status code/i);
      }
      expect(seen.closed).to.match(/participant unreachable/);
      expect(seen.hole).to.match(/participant (timed out|unreachable)/);
      expect(seen.grpc).to.match(/not a participant/);
    });
  });
});
