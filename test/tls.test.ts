import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { execFile } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { TccClient, CertificateError } from '../src/client';
import { ParticipantServer, noBarrier } from '../src/participant';
import { loadTccProto } from '../src/protocol/tcc-proto';
import { killHard, spawnCoordinator } from './helpers/coordinator-process';
import { loadAccountConfig } from '../participants/account/account-config';
import { startAccountService } from '../participants/account/account-service';
import { createTestPki, requireOpenssl, type TestCert, type TestPki } from './helpers/test-certificates';

const silent = pino({ level: 'silent' });
const TCCCTL = path.resolve(__dirname, '..', 'src', 'cli', 'tccctl.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A participant whose every action succeeds (after `delayMs`), served over TLS. */
async function startTlsParticipant(pki: TestPki, server: TestCert, requireClientCert: boolean, delayMs = 0): Promise<ParticipantServer> {
  const p = new ParticipantServer({
    barrier: noBarrier,
    logger: silent,
    actions: {
      reserve: {
        try: async () => {
          await sleep(delayMs);
          return 'ok';
        },
        confirm: async () => undefined,
        cancel: async () => undefined,
      },
    },
    tls: { certFile: server.cert, keyFile: server.key, clientCaFile: pki.ca, requireClientCert },
  });
  await p.listen('127.0.0.1:0');
  return p;
}

/** The certificate subject CN a fresh TLS connection to `address` is shown. */
function servedCn(address: string, ca: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, ca: fs.readFileSync(ca), ALPNProtocols: ['h2'], servername: 'localhost' }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.destroy();
      resolve(String(cn));
    });
    s.on('error', reject);
  });
}

describe('TLS and mutual TLS', function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;
  let coordinatorCert: TestCert;
  let coordinatorClientCert: TestCert;
  let clientCert: TestCert;
  let participantCert: TestCert;

  before(function () {
    requireOpenssl(this);
    pki = createTestPki('tls');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-tls-'));
    coordinatorCert = pki.issue('coordinator-server', 'coordinator', { server: true });
    coordinatorClientCert = pki.issue('coordinator-client', 'coordinator');
    clientCert = pki.issue('client-a', 'client-a');
    participantCert = pki.issue('participant', 'participant', { server: true });
  });

  after(() => {
    pki?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function tlsConfig(extra: Record<string, string> = {}) {
    return loadConfig({
      TCC_GRPC_ADDR: '127.0.0.1:0',
      TCC_DB_URL: `sqlite:${path.join(dir, `tcc-${Math.random().toString(36).slice(2)}.sqlite`)}`,
      TCC_TLS_CERT: coordinatorCert.cert,
      TCC_TLS_KEY: coordinatorCert.key,
      TCC_TLS_CLIENT_CA: pki.ca,
      TCC_PARTICIPANT_TLS_CA: pki.ca,
      TCC_PARTICIPANT_TLS_CERT: coordinatorClientCert.cert,
      TCC_PARTICIPANT_TLS_KEY: coordinatorClientCert.key,
      TCC_LOG_LEVEL: 'silent',
      ...extra,
    });
  }

  describe('client → coordinator → participant, every hop mutual TLS', () => {
    let coordinator: RunningCoordinator;
    let participant: ParticipantServer;

    before(async () => {
      participant = await startTlsParticipant(pki, participantCert, true);
      coordinator = await startCoordinator(tlsConfig(), { logger: silent });
    });

    after(async () => {
      await coordinator?.shutdown();
      await participant?.shutdown(0);
    });

    it('commits a transaction end to end', async () => {
      const client = new TccClient(coordinator.address, { tls: { caFile: pki.ca, certFile: clientCert.cert, keyFile: clientCert.key } });
      try {
        const res = await client.execute({ branches: [{ participant: participant.address!, action: 'reserve', payload: Buffer.from('{}') }], wait: true });
        expect(res.status).to.equal('CONFIRMED');
      } finally {
        client.close();
      }
    });

    it('refuses a client without a certificate, and a plaintext client', async () => {
      for (const options of [{ tls: { caFile: pki.ca } }, {}]) {
        const client = new TccClient(coordinator.address, { ...options, callTimeoutMs: 3_000 });
        try {
          const err = await client.begin().then(
            () => undefined,
            (e: unknown) => e as Error,
          );
          expect(err, JSON.stringify(options)).to.be.instanceOf(Error);
          expect(err!.name).to.equal('CoordinatorUnavailableError');
        } finally {
          client.close();
        }
      }
    });

    it('serves tccctl over mutual TLS (--tls-ca/--tls-cert/--tls-key, and the TCCCTL_TLS_* env), and tccctl fails without a certificate', async () => {
      const tccctl = (args: string[], env: Record<string, string> = {}) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            [TCCCTL, '--addr', coordinator.address, '--timeout', '5000', ...args],
            { env: { PATH: process.env.PATH ?? '', ...env } },
            (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
          );
        });
      const withFlags = await tccctl(['--tls-ca', pki.ca, '--tls-cert', clientCert.cert, '--tls-key', clientCert.key, 'list']);
      expect(withFlags.code, withFlags.stderr).to.equal(0);
      const withEnv = await tccctl(['list'], { TCCCTL_TLS_CA: pki.ca, TCCCTL_TLS_CERT: clientCert.cert, TCCCTL_TLS_KEY: clientCert.key });
      expect(withEnv.code, withEnv.stderr).to.equal(0);
      const without = await tccctl(['--tls-ca', pki.ca, 'list']);
      expect(without.code).to.not.equal(0);
      const badFile = await tccctl(['--tls-ca', path.join(dir, 'missing-ca.pem'), 'list']);
      expect(badFile.stderr).to.match(/tccctl: TLS: .*missing-ca\.pem: cannot be read/);
    });

    it('refuses a client whose certificate another CA signed', async () => {
      const rogue = createTestPki('rogue');
      try {
        const cert = rogue.issue('client', 'client-a');
        const client = new TccClient(coordinator.address, { tls: { caFile: pki.ca, certFile: cert.cert, keyFile: cert.key }, callTimeoutMs: 3_000 });
        try {
          const err = await client.begin().then(
            () => undefined,
            (e: unknown) => e as Error,
          );
          expect(err?.name).to.equal('CoordinatorUnavailableError');
        } finally {
          client.close();
        }
      } finally {
        rogue.remove();
      }
    });
  });

  describe('a participant that requires client certificates', () => {
    let participant: ParticipantServer;
    before(async () => {
      participant = await startTlsParticipant(pki, participantCert, true);
    });
    after(() => participant?.shutdown(0));

    function tryCall(creds: grpc.ChannelCredentials): Promise<grpc.ServiceError | null> {
      const Ctor = loadTccProto().grpcObject.tcc.v1.Participant;
      const c = new Ctor(participant.address!, creds);
      return new Promise((resolve) => {
        c.Try({ gid: 'g', branch_id: 'b', action: 'reserve', payload: Buffer.alloc(0) }, { deadline: Date.now() + 3_000 }, (err) => {
          c.close();
          resolve(err);
        });
      });
    }

    it("serves the coordinator's certificate and refuses a caller without one", async () => {
      const ca = fs.readFileSync(pki.ca);
      const withCert = grpc.credentials.createSsl(ca, fs.readFileSync(coordinatorClientCert.key), fs.readFileSync(coordinatorClientCert.cert));
      expect(await tryCall(withCert)).to.equal(null);
      const err = await tryCall(grpc.credentials.createSsl(ca));
      expect(err?.code).to.equal(grpc.status.UNAVAILABLE);
    });

    it('makes the Try of a coordinator without the client certificate fail, so the transaction rolls back', async () => {
      const coordinator = await startCoordinator(tlsConfig({ TCC_PARTICIPANT_TLS_CERT: '', TCC_PARTICIPANT_TLS_KEY: '', TCC_TLS_CLIENT_CA: '' }), {
        logger: silent,
      });
      const client = new TccClient(coordinator.address, { tls: { caFile: pki.ca } });
      try {
        const err = await client
          .execute({ branches: [{ participant: participant.address!, action: 'reserve', payload: Buffer.from('{}') }] })
          .then(
            () => undefined,
            (e: unknown) => e as Error,
          );
        expect(err?.name).to.equal('TransactionRolledBackError');
      } finally {
        client.close();
        await coordinator.shutdown();
      }
    });
  });

  it('runs the example account participant over TLS from its env, refusing callers without the coordinator certificate', async () => {
    const config = loadAccountConfig({
      ACCOUNT_ADDR: '127.0.0.1:0',
      ACCOUNT_DB_URL: `sqlite:${path.join(dir, 'account.sqlite')}`,
      ACCOUNT_LOG_LEVEL: 'silent',
      ACCOUNT_TLS_CERT: participantCert.cert,
      ACCOUNT_TLS_KEY: participantCert.key,
      ACCOUNT_TLS_CLIENT_CA: pki.ca,
    });
    expect(config.tls?.requireClientCert).to.equal(true);
    const account = await startAccountService(config);
    const Ctor = loadTccProto().grpcObject.tcc.v1.Participant;
    const call = (creds: grpc.ChannelCredentials) =>
      new Promise<grpc.ServiceError | null>((resolve) => {
        const c = new Ctor(account.address, creds);
        c.Try({ gid: 'g', branch_id: 'b', action: 'no-such-action', payload: Buffer.alloc(0) }, { deadline: Date.now() + 3_000 }, (err) => {
          c.close();
          resolve(err);
        });
      });
    try {
      const ca = fs.readFileSync(pki.ca);
      const withCert = await call(grpc.credentials.createSsl(ca, fs.readFileSync(coordinatorClientCert.key), fs.readFileSync(coordinatorClientCert.cert)));
      // Past the handshake: the service itself answers (an unknown action is not UNAVAILABLE).
      expect(withCert?.code).to.not.equal(grpc.status.UNAVAILABLE);
      expect((await call(grpc.credentials.createSsl(ca)))?.code).to.equal(grpc.status.UNAVAILABLE);
    } finally {
      await account.shutdown();
    }
  });

  describe('bad certificates at start', () => {
    it('refuses to start with an expired certificate, a key of another certificate, or a missing file', async () => {
      const expired = pki.issue('expired', 'coordinator', { server: true, startDate: '20200101000000Z', endDate: '20200102000000Z' });
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{ TCC_TLS_CERT: expired.cert, TCC_TLS_KEY: expired.key }, /expired on 2020-01-02/],
        [{ TCC_TLS_KEY: clientCert.key }, /is not the key of the certificate/],
        [{ TCC_TLS_CERT: path.join(dir, 'missing.pem') }, /cannot be read \(ENOENT\)/],
      ];
      for (const [env, message] of cases) {
        const err = await startCoordinator(tlsConfig(env), { logger: silent }).then(
          async (c) => {
            await c.shutdown();
            return undefined;
          },
          (e: unknown) => e as Error,
        );
        expect(err, message.source).to.be.instanceOf(CertificateError);
        expect(err!.message).to.match(message);
      }
    });

    it('exits with a clear message as a process (never a plaintext fallback)', async () => {
      const expired = pki.issue('expired2', 'coordinator', { server: true, startDate: '20200101000000Z', endDate: '20200102000000Z' });
      const err = await spawnCoordinator({
        TCC_DB_URL: `sqlite:${path.join(dir, 'proc-expired.sqlite')}`,
        TCC_TLS_CERT: expired.cert,
        TCC_TLS_KEY: expired.key,
      }).then(
        async (p) => {
          await killHard(p);
          return undefined;
        },
        (e: unknown) => e as Error,
      );
      expect(err?.message).to.match(/exited \(2\).*TLS: .*expired2\.pem: certificate "CN=coordinator" expired on 2020-01-02/s);
    });
  });

  describe('certificate reload on SIGHUP (real process)', () => {
    it('serves the new certificate to new connections without dropping a call in flight, and keeps the old one on a bad file', async () => {
      const slowParticipant = await startTlsParticipant(pki, participantCert, true, 2_000);
      const live = { cert: path.join(dir, 'live.pem'), key: path.join(dir, 'live.key') };
      const first = pki.issue('first', 'coordinator-first', { server: true });
      const second = pki.issue('second', 'coordinator-second', { server: true });
      fs.copyFileSync(first.cert, live.cert);
      fs.copyFileSync(first.key, live.key);
      const p = await spawnCoordinator({
        TCC_DB_URL: `sqlite:${path.join(dir, 'reload.sqlite')}`,
        TCC_TLS_CERT: live.cert,
        TCC_TLS_KEY: live.key,
        TCC_TLS_CLIENT_CA: pki.ca,
        TCC_PARTICIPANT_TLS_CA: pki.ca,
        TCC_PARTICIPANT_TLS_CERT: coordinatorClientCert.cert,
        TCC_PARTICIPANT_TLS_KEY: coordinatorClientCert.key,
      });
      const client = new TccClient(p.address, { tls: { caFile: pki.ca, certFile: clientCert.cert, keyFile: clientCert.key }, callTimeoutMs: 30_000 });
      try {
        expect(await servedCn(p.address, pki.ca)).to.equal('coordinator-first');
        // A call in flight (the participant takes 2 s) across the reload.
        const inFlight = client.execute({ branches: [{ participant: slowParticipant.address!, action: 'reserve', payload: Buffer.from('{}') }], wait: true });
        await sleep(500);
        fs.copyFileSync(second.cert, live.cert);
        fs.copyFileSync(second.key, live.key);
        p.child.kill('SIGHUP');
        const until = Date.now() + 10_000;
        while (!p.lines.some((l) => l.msg === 'certificates reloaded') && Date.now() < until) await sleep(50);
        expect(await servedCn(p.address, pki.ca)).to.equal('coordinator-second');
        expect((await inFlight).status).to.equal('CONFIRMED');

        // A broken file: the reload fails loudly and the second certificate stays in service.
        fs.writeFileSync(live.cert, 'not a certificate');
        p.child.kill('SIGHUP');
        while (!p.lines.some((l) => l.msg === 'certificate reload failed; serving the previous certificates') && Date.now() < until + 10_000) {
          await sleep(50);
        }
        expect(await servedCn(p.address, pki.ca)).to.equal('coordinator-second');
        expect((await client.begin()).gid).to.be.a('string');
      } finally {
        client.close();
        await killHard(p);
        await slowParticipant.shutdown(0);
      }
    });
  });
});
