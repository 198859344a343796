import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { HealthImplementation } from 'grpc-health-check';
import { loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { participantHint } from '../src/domain/participant-hint';
import { createLogger } from '../src/log/logger';
import { createCoordinatorClient, expectGrpcError, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

const CLI = path.resolve(__dirname, '..', 'src', 'cli', 'tccctl.js');

async function startWebhook(): Promise<{ url: string; bodies: Record<string, unknown>[]; server: http.Server }> {
  const bodies: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(data) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/alerts`, bodies, server };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function tccctlShow(address: string, gid: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [CLI, 'show', gid], { env: { PATH: process.env.PATH ?? '', TCC_ADDR: address }, timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`tccctl show ${gid}: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

describe('participant hints: a target that is never reachable or is not a participant', function () {
  this.timeout(60_000);
  let dir: string;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;
  let coordinator: RunningCoordinator;
  let client: TestCoordinatorClient;
  let notAParticipant: grpc.Server;
  let notAParticipantTarget: string;
  let participant: TestParticipant;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-hints-'));
    webhook = await startWebhook();
    // A gRPC server, but only health: every tcc.v1.Participant call answers UNIMPLEMENTED.
    notAParticipant = new grpc.Server();
    new HealthImplementation({ '': 'SERVING' }).addToServer(notAParticipant);
    const port = await new Promise<number>((resolve, reject) =>
      notAParticipant.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    notAParticipantTarget = `127.0.0.1:${port}`;
    participant = await startTestParticipant();
    const config = loadConfig({
      TCC_GRPC_ADDR: '127.0.0.1:0',
      TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}`,
      TCC_RETRY_INITIAL_MS: '50',
      TCC_RETRY_MAX_MS: '200',
      TCC_SWEEP_INTERVAL_MS: '100',
      TCC_STUCK_AFTER_ATTEMPTS: '2',
      TCC_BRANCH_TIMEOUT_MS: '2000',
      TCC_ALERT_WEBHOOK_URL: webhook.url,
    });
    coordinator = await startCoordinator(config, { logger: createLogger({ level: 'silent' }) });
    client = createCoordinatorClient(coordinator.address, 20_000);
  });
  after(async () => {
    client.close();
    await coordinator.shutdown();
    notAParticipant.forceShutdown();
    await participant.stop();
    await new Promise<void>((r) => webhook.server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the rule: every call UNAVAILABLE, or every call UNIMPLEMENTED; nothing for mixed failures or any answer', () => {
    expect(participantHint([{ grpcCode: 14 }, { grpcCode: 14 }])).to.match(/all 2 calls UNAVAILABLE: is the participant address right/);
    expect(participantHint([{ grpcCode: 12 }])).to.match(/UNIMPLEMENTED: is this address a tcc.v1.Participant/);
    expect(participantHint([{ grpcCode: 0 }, { grpcCode: 14 }])).to.equal('');
    expect(participantHint([{ grpcCode: 12 }, { grpcCode: 14 }])).to.equal('');
    expect(participantHint([])).to.equal('');
  });

  const cases = [
    { name: 'unreachable (nothing listens)', target: async () => `127.0.0.1:${await closedPort()}`, hint: /UNAVAILABLE: is the participant address right, and is it running\?/ },
    { name: 'not a participant (UNIMPLEMENTED)', target: async () => notAParticipantTarget, hint: /UNIMPLEMENTED: is this address a tcc\.v1\.Participant/ },
  ];
  for (const c of cases) {
    it(`${c.name}: the stuck alert and tccctl show carry the hint`, async () => {
      const target = await c.target();
      const gid = `hint-${c.name.split(' ')[0]}-${process.pid}`;
      // Try of unknown outcome: rolled back, and its Cancel keeps failing the same way.
      await expectGrpcError(client.execute({ gid, branches: [{ participant: target, action: 'reserve', payload: Buffer.from('{}') }] }), grpc.status.ABORTED);
      const alert = await waitFor('stuck alert', () => webhook.bodies.find((b) => b.gid === gid));
      expect(alert.participant).to.equal(target);
      expect(alert.hint).to.match(c.hint);

      const shown = await tccctlShow(coordinator.address, gid);
      const hintLine = shown.split('\n').find((l) => l.includes('hint: branch'));
      expect(hintLine, shown).to.match(c.hint);
      expect(hintLine).to.include(target).and.match(/all \d+ calls/);
    });
  }

  it('a reachable participant failing only its Confirm (UNAVAILABLE) gets no hint in tccctl show', async () => {
    participant.resetBehaviors();
    participant.setBehavior('confirm', 'unavailable');
    const gid = `hint-none-${process.pid}`;
    await client.execute({ gid, branches: [{ participant: participant.target, action: 'reserve', payload: Buffer.from('{}') }] });
    await participant.waitForCalls((call) => call.gid === gid && call.phase === 'confirm', 20_000, 2);
    const shown = await tccctlShow(coordinator.address, gid);
    expect(shown).to.include('UNAVAILABLE');
    expect(shown).not.to.include('hint:');
    participant.resetBehaviors();
  });
});
