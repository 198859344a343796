import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { ConfigError, loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { TccClient } from '../src/client';
import { loadTccProto } from '../src/protocol/tcc-proto';
import type { AdminClient } from '../src/generated/tcc/v1/Admin';
import { forEachBackend, startTestCoordinator } from './helpers/backends';
import { createTestPki, requireOpenssl } from './helpers/test-certificates';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef00';
const ADMIN = 'admin-token-0123456789abcdef';

async function failure(p: Promise<unknown>): Promise<Error & { cause?: unknown }> {
  return p.then(
    () => expect.fail('expected the call to fail'),
    (e: unknown) => e as Error,
  );
}

/** The gRPC status code under a TccError. */
function codeOf(err: Error & { cause?: unknown }): number | undefined {
  return (err.cause as { code?: number } | undefined)?.code ?? (err as { code?: number }).code;
}

describe('client authentication (TCC_CLIENT_AUTH)', function () {
  this.timeout(60_000);

  it('validates its settings', () => {
    expect(() => loadConfig({ TCC_CLIENT_TOKENS: 'alice=short' })).to.throw(ConfigError, /TCC_CLIENT_TOKENS/);
    expect(() => loadConfig({ TCC_CLIENT_TOKENS: `alice=${ALICE},bob=${ALICE}` })).to.throw(ConfigError, /share a token/);
    expect(() => loadConfig({ TCC_CLIENT_AUTH: 'token' })).to.throw(ConfigError, /needs TCC_CLIENT_TOKENS/);
    expect(() => loadConfig({ TCC_CLIENT_AUTH: 'mtls' })).to.throw(ConfigError, /needs TCC_TLS_CLIENT_CA/);
    expect(loadConfig({ TCC_CLIENT_TOKENS: `alice=${ALICE}` }).clientAuth).to.deep.equal(['token']);
    expect(loadConfig({}).clientAuth).to.deep.equal([]);
  });

  forEachBackend((backend) => {
    let coordinator: RunningCoordinator;
    let alice: TccClient;
    let bob: TccClient;
    let anonymous: TccClient;
    let admin: AdminClient;

    before(async () => {
      coordinator = await startTestCoordinator(backend, { TCC_CLIENT_TOKENS: `alice=${ALICE}, bob=${BOB}`, TCC_ADMIN_TOKEN: ADMIN });
      alice = new TccClient(coordinator.address, { token: ALICE });
      bob = new TccClient(coordinator.address, { token: BOB });
      anonymous = new TccClient(coordinator.address);
      admin = new (loadTccProto().grpcObject.tcc.v1.Admin)(coordinator.address, grpc.credentials.createInsecure());
    });
    after(async () => {
      for (const c of [alice, bob, anonymous]) c?.close();
      admin?.close();
      await coordinator?.shutdown();
    });

    it('refuses calls without a token or with an unknown one (UNAUTHENTICATED)', async () => {
      expect(codeOf(await failure(anonymous.begin()))).to.equal(grpc.status.UNAUTHENTICATED);
      const stranger = new TccClient(coordinator.address, { token: 'stranger-token-0123456789' });
      try {
        expect(codeOf(await failure(stranger.begin()))).to.equal(grpc.status.UNAUTHENTICATED);
      } finally {
        stranger.close();
      }
    });

    it("lets only the identity that began a transaction read or decide it; Admin still can", async () => {
      const { gid } = await alice.begin();
      expect((await alice.get(gid)).gid).to.equal(gid);
      expect(codeOf(await failure(bob.get(gid)))).to.equal(grpc.status.NOT_FOUND);
      expect(codeOf(await failure(bob.rollback(gid)))).to.equal(grpc.status.NOT_FOUND);
      expect(codeOf(await failure(bob.commit(gid)))).to.equal(grpc.status.NOT_FOUND);
      expect(codeOf(await failure(bob.try(gid, { participant: '127.0.0.1:1', action: 'x', payload: Buffer.from('p') })))).to.equal(
        grpc.status.NOT_FOUND,
      );
      // Bob's attempts changed nothing.
      expect((await alice.get(gid)).status).to.equal('TRYING');
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${ADMIN}`);
      const viaAdmin = await new Promise<string>((resolve, reject) =>
        admin.GetTransaction({ gid }, md, { deadline: Date.now() + 5_000 }, (err, t) => (err ? reject(err) : resolve(t!.status))),
      );
      expect(viaAdmin).to.equal('TRYING');
      expect((await alice.rollback(gid)).status).to.be.oneOf(['CANCELLING', 'CANCELLED']);
    });

    it('refuses a Begin under a gid another client began (PERMISSION_DENIED), and lets its owner repeat it', async () => {
      const gid = `owned-${backend.name}-${Date.now()}`;
      await alice.begin({ gid });
      expect(codeOf(await failure(bob.begin({ gid })))).to.equal(grpc.status.PERMISSION_DENIED);
      expect((await alice.begin({ gid })).gid).to.equal(gid);
    });
  });

  describe('identities from client certificates', () => {
    let dir: string;
    let coordinator: RunningCoordinator;
    let pki: ReturnType<typeof createTestPki>;

    before(async function () {
      requireOpenssl(this);
      pki = createTestPki('client-auth');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-client-auth-'));
      const server = pki.issue('server', 'coordinator', { server: true });
      coordinator = await startCoordinator(
        loadConfig({
          TCC_GRPC_ADDR: '127.0.0.1:0',
          TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}`,
          TCC_TLS_CERT: server.cert,
          TCC_TLS_KEY: server.key,
          TCC_TLS_CLIENT_CA: pki.ca,
          TCC_CLIENT_AUTH: 'mtls',
        }),
        { logger: pino({ level: 'silent' }) },
      );
    });
    after(async () => {
      await coordinator?.shutdown();
      pki?.remove();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("keeps one certificate's transactions from another certificate", async () => {
      const certA = pki.issue('a', 'service-a');
      const certB = pki.issue('b', 'service-b');
      const a = new TccClient(coordinator.address, { tls: { caFile: pki.ca, certFile: certA.cert, keyFile: certA.key } });
      const b = new TccClient(coordinator.address, { tls: { caFile: pki.ca, certFile: certB.cert, keyFile: certB.key } });
      try {
        const { gid } = await a.begin();
        expect((await a.get(gid)).gid).to.equal(gid);
        expect(codeOf(await failure(b.get(gid)))).to.equal(grpc.status.NOT_FOUND);
        expect(codeOf(await failure(b.rollback(gid)))).to.equal(grpc.status.NOT_FOUND);
      } finally {
        a.close();
        b.close();
      }
    });
  });
});
