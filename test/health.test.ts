/**
 * grpc.health.v1 follows the database: NOT_SERVING while it does not answer
 * (stopped, or stalled with its connections open), SERVING again once it is
 * back. Against a MariaDB server this test starts itself (own data directory
 * and port), never the shared one.
 */
import { expect } from 'chai';
import type { RunningCoordinator } from '../src/coordinator';
import { createCoordinatorClient, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { checkHealth as check, createHealthClient, type HealthClient } from './helpers/health-client';
import { requirePrivateMariadb, startPrivateMariadb, type PrivateMariadb } from './helpers/private-mariadb';

describe('health: follows the database', function () {
  this.timeout(180_000);
  let db: PrivateMariadb | undefined;
  let coordinator: RunningCoordinator | undefined;
  let health: HealthClient | undefined;
  let client: TestCoordinatorClient | undefined;

  before(async function () {
    requirePrivateMariadb(this);
    db = await startPrivateMariadb();
    await db.createDatabase('tcc');
    coordinator = await startTestCoordinator(
      { name: 'mariadb', url: db.url('tcc') },
      { TCC_HEALTH_CHECK_INTERVAL_MS: '200', TCC_SHUTDOWN_GRACE_MS: '1000' },
    );
    health = createHealthClient(coordinator.address);
    client = createCoordinatorClient(coordinator.address);
  });

  after(async function () {
    db?.resume();
    health?.close();
    client?.close();
    await coordinator?.shutdown();
    await db?.destroy();
  });

  const statusOf = (service = '') => check(health!, service);
  const until = (want: string, what: string) => pollUntil(() => statusOf(), (s) => s === want, what, 60_000, 100);

  it('is SERVING with the database up', async function () {
    expect(await statusOf()).to.equal('SERVING');
    expect(await statusOf('tcc.v1.Coordinator')).to.equal('SERVING');
    expect(await statusOf('tcc.v1.Admin')).to.equal('SERVING');
  });

  it('NOT_SERVING while the database is stalled (connections open, no answers), SERVING once it answers again', async function () {
    db!.pause();
    await until('NOT_SERVING', 'NOT_SERVING while the database is stalled');
    expect(await statusOf('tcc.v1.Coordinator')).to.equal('NOT_SERVING');
    db!.resume();
    await until('SERVING', 'SERVING after the database resumed');
  });

  it('NOT_SERVING while the database server is stopped, SERVING after it is restarted, and transactions work again', async function () {
    await db!.stop();
    await until('NOT_SERVING', 'NOT_SERVING while the database is stopped');
    expect(await statusOf('tcc.v1.Admin')).to.equal('NOT_SERVING');
    await db!.start();
    await until('SERVING', 'SERVING after the database restarted');
    expect(await statusOf('tcc.v1.Coordinator')).to.equal('SERVING');
    const begun = await client!.begin({ timeout_ms: 60_000 });
    expect(begun.gid).to.be.a('string').and.not.equal('');
  });
});
