/**
 * The MySQL server crashes (kill -9 mariadbd, connections dropped without a
 * word) and is restarted on the same port: new calls fail fast with
 * UNAVAILABLE, health is NOT_SERVING, and once the server is back the same
 * coordinator (no restart) serves again within seconds, and recovery finishes
 * the transaction it had decided before the crash. Against a MariaDB server
 * of the test's own; the shared one is never touched.
 */
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import { createCoordinatorClient, expectGrpcError, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { checkHealth, createHealthClient, type HealthClient } from './helpers/health-client';
import { requirePrivateMariadb, startPrivateMariadb, type PrivateMariadb } from './helpers/private-mariadb';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

const STATEMENT_TIMEOUT_MS = 2_000;

describe('MySQL server killed (kill -9) and restarted under a running coordinator (own mariadbd)', function () {
  this.timeout(240_000);
  let db: PrivateMariadb | undefined;
  let participant: TestParticipant | undefined;
  let coordinator: RunningCoordinator | undefined;
  let client: TestCoordinatorClient | undefined;
  let health: HealthClient | undefined;

  before(async function () {
    requirePrivateMariadb(this);
    db = await startPrivateMariadb();
    await db.createDatabase('tcc');
    participant = await startTestParticipant();
    coordinator = await startTestCoordinator(
      { name: 'mariadb', url: db.url('tcc') },
      {
        TCC_HEALTH_CHECK_INTERVAL_MS: '200',
        TCC_DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
        TCC_SWEEP_INTERVAL_MS: '200',
        TCC_SHUTDOWN_GRACE_MS: '0',
      },
    );
    client = createCoordinatorClient(coordinator.address, 30_000);
    health = createHealthClient(coordinator.address);
  });

  after(async () => {
    client?.close();
    health?.close();
    await coordinator?.shutdown();
    await participant?.stop();
    await db?.destroy();
  });

  it('calls fail fast while it is down; after the restart health is SERVING, the decided transaction is confirmed and new calls work', async () => {
    participant!.setBehavior('confirm', 'unavailable');
    const decided = await client!.execute({ branches: [{ participant: participant!.target, action: 'pay', payload: Buffer.from('x') }] });
    expect(decided.status).to.equal('CONFIRMING');

    await db!.kill();
    const t0 = Date.now();
    await expectGrpcError(client!.begin({ timeout_ms: 60_000 }), grpc.status.UNAVAILABLE, 'Begin with the server down');
    const failedIn = Date.now() - t0;
    // Refused connections fail at once; at worst the statement timeout bounds it (slack for a loaded machine).
    expect(failedIn).to.be.below(STATEMENT_TIMEOUT_MS + 8_000);
    await pollUntil(() => checkHealth(health!), (s) => s === 'NOT_SERVING', 'health NOT_SERVING with the server down', 30_000, 100);

    participant!.setBehavior('confirm', 'ok');
    const restarted = Date.now();
    await db!.start();
    await pollUntil(() => checkHealth(health!), (s) => s === 'SERVING', 'health SERVING after the restart', 60_000, 100);
    const healedIn = Date.now() - restarted;
    await pollUntil(() => client!.getTransaction({ gid: decided.gid }), (t) => t.status === 'CONFIRMED', 'the decided transaction CONFIRMED', 60_000, 200);
    const after = await client!.execute({ branches: [{ participant: participant!.target, action: 'pay' }], wait: true });
    expect(after.status).to.equal('CONFIRMED');
    console.log(`      (Begin failed in ${failedIn} ms with the server down; health SERVING ${healedIn} ms after the server answered again)`);
  });
});
