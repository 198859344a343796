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
import * as mysql from 'mysql2';
import { createSqlRunner } from '../src/store/sql-runner';
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

  it('the batch writer\'s runner sends a deferred write and the next statement as two queries when together they pass the packet', async () => {
    const conn = mysql.createConnection({ host: '127.0.0.1', port: db!.port, user: 'root', database: 'tcc', multipleStatements: true });
    try {
      const runner = createSqlRunner('mysql', conn, { maxQueryBytes: PACKET - 64 * 1024 });
      await runner.run('CREATE TABLE packet_probe (b LONGBLOB)', []);
      const blob = Buffer.alloc(LARGEST_FITTING, 0xcd);
      // Each alone fits the packet (hex-escaped); both together do not.
      await runner.defer('INSERT INTO packet_probe (b) VALUES (?)', [blob]);
      expect(await runner.run('INSERT INTO packet_probe (b) VALUES (?)', [blob])).to.equal(1);
      await runner.defer('INSERT INTO packet_probe (b) VALUES (?)', [Buffer.alloc(1)]);
      const rows = await runner.all('SELECT LENGTH(b) AS n FROM packet_probe ORDER BY n', []);
      expect(rows.map((r) => Number(r.n))).to.deep.equal([1, LARGEST_FITTING, LARGEST_FITTING]);
    } finally {
      conn.destroy();
    }
  });

  it('stores branch rows that together pass max_allowed_packet, each within it, and confirms them', async () => {
    // The batch writer sends writes it needs no answer from with its next statement, as one
    // query: three rows of the largest payload must still go as three queries, not one of 3 MB.
    proc = await spawnCoordinator(env(LARGEST_FITTING), 60_000);
    const client = createCoordinatorClient(proc.address, 60_000);
    try {
      const branches = ['a', 'b', 'c'].map((id) => ({ participant: participant!.target, action: 'big', branchId: id, payload: Buffer.alloc(LARGEST_FITTING, id.charCodeAt(0)) }));
      const txn = await client.execute({ branches, wait: true });
      expect(txn.status).to.equal('CONFIRMED');
      const stored = await client.getTransaction({ gid: txn.gid });
      expect(stored.branches.map((b) => Number(b.payload_bytes))).to.deep.equal([LARGEST_FITTING, LARGEST_FITTING, LARGEST_FITTING]);
    } finally {
      client.close();
      await killHard(proc);
    }
  });
});
