/**
 * TCC_MAX_PAYLOAD_BYTES against the server's max_allowed_packet: a branch row
 * is written in one statement, its payload hex-encoded (twice its size), so
 * the coordinator refuses to start (exit code 2, naming both settings) when
 * the largest payload it accepts could not be stored, instead of failing the
 * first big Try with the server's "packet too large". Against a MariaDB of
 * the test's own started with --max-allowed-packet=1M (the shared server's
 * GLOBAL settings are never changed).
 */
import { expect } from 'chai';
import { createCoordinatorClient } from './helpers/backends';
import { killHard, spawnCoordinator, type CoordinatorProcess } from './helpers/coordinator-process';
import { requirePrivateMariadb, startPrivateMariadb, type PrivateMariadb } from './helpers/private-mariadb';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

const PACKET = 1024 * 1024;
/** (max_allowed_packet - 64 KiB of statement text) / 2: the largest payload the check lets through. */
const LARGEST_FITTING = (PACKET - 64 * 1024) / 2;

describe('TCC_MAX_PAYLOAD_BYTES must fit the server max_allowed_packet (own mariadbd, --max-allowed-packet=1M)', function () {
  this.timeout(180_000);
  let db: PrivateMariadb | undefined;
  let participant: TestParticipant | undefined;
  let proc: CoordinatorProcess | undefined;

  before(async function () {
    requirePrivateMariadb(this);
    db = await startPrivateMariadb({ extraArgs: [`--max-allowed-packet=${PACKET}`] });
    await db.createDatabase('tcc');
    participant = await startTestParticipant();
  });

  after(async () => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) await killHard(proc);
    await participant?.stop();
    await db?.destroy();
  });

  const env = (maxPayload: number) => ({ TCC_DB_URL: db!.url('tcc'), TCC_MAX_PAYLOAD_BYTES: String(maxPayload), TCC_SHUTDOWN_GRACE_MS: '0' });

  async function refusal(maxPayload: number): Promise<string> {
    try {
      proc = await spawnCoordinator(env(maxPayload), 60_000);
    } catch (err) {
      return (err as Error).message;
    }
    await killHard(proc);
    return expect.fail(`started with TCC_MAX_PAYLOAD_BYTES=${maxPayload} on max_allowed_packet=${PACKET}`);
  }

  it('refuses to start (exit code 2) when one payload of that size cannot be stored, naming what to change', async () => {
    const message = await refusal(PACKET);
    expect(message).to.match(/exited \(2\)/);
    expect(message).to.include(`TCC_MAX_PAYLOAD_BYTES=${PACKET}`);
    expect(message).to.include(`max_allowed_packet is ${PACKET}`);
    expect(message).to.include(`lower TCC_MAX_PAYLOAD_BYTES to ${LARGEST_FITTING} or less`);
    // One byte over the largest that fits is refused too.
    expect(await refusal(LARGEST_FITTING + 1)).to.match(/exited \(2\)/);
  });

  it('starts with the largest payload that fits, and an Execute carrying exactly that payload is stored and confirmed', async () => {
    proc = await spawnCoordinator(env(LARGEST_FITTING), 60_000);
    const client = createCoordinatorClient(proc.address, 60_000);
    try {
      const payload = Buffer.alloc(LARGEST_FITTING, 0xab);
      const txn = await client.execute({ branches: [{ participant: participant!.target, action: 'big', payload }], wait: true });
      expect(txn.status).to.equal('CONFIRMED');
      const stored = await client.getTransaction({ gid: txn.gid });
      expect(Number(stored.branches[0].payload_bytes)).to.equal(LARGEST_FITTING);
    } finally {
      client.close();
      await killHard(proc);
    }
  });
});
