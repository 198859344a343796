import { expect } from 'chai';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { createLogger } from '../src/log/logger';
import { loadTccProto } from '../src/protocol/tcc-proto';
import type { Transaction__Output } from '../src/generated/tcc/v1/Transaction';
import { pollUntil } from './helpers/backends';

const ALICE_TOKEN = 'alice-token-0123456789abcdef';
const RETRY_MAX_MS = 300;

/** A loopback port nothing listens on (bound, then closed): connecting to it is refused. */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

type Unary = (req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void;

function call<T>(client: grpc.Client, method: string, req: unknown, md = new grpc.Metadata()): Promise<T> {
  const fn: Unary = (client as unknown as Record<string, Unary>)[method].bind(client);
  return new Promise((resolve, reject) => fn(req, md, { deadline: Date.now() + 15_000 }, (err, res) => (err ? reject(err) : resolve(res as T))));
}

/** Transactions whose target never exists: flagged with the reason, counted per client, retried at the capped interval, their log rows folded, and deleted by retention once an operator resolves them. */
describe('targets that never exist', function () {
  this.timeout(90_000);
  let dir: string;
  let coordinator: RunningCoordinator;
  let client: grpc.Client;
  let admin: grpc.Client;
  const lines: string[] = [];
  const alice = new grpc.Metadata();
  alice.set('authorization', `Bearer ${ALICE_TOKEN}`);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-dead-targets-'));
    const config = loadConfig({
      TCC_GRPC_ADDR: '127.0.0.1:0',
      TCC_METRICS_ADDR: '127.0.0.1:0',
      TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}`,
      TCC_CLIENT_TOKENS: `alice=${ALICE_TOKEN}`,
      TCC_RETRY_INITIAL_MS: '20',
      TCC_RETRY_MAX_MS: String(RETRY_MAX_MS),
      TCC_STUCK_AFTER_ATTEMPTS: '3',
      TCC_SWEEP_INTERVAL_MS: '50',
      TCC_BRANCH_TIMEOUT_MS: '1000',
      TCC_RETENTION_MS: '1000',
    });
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    coordinator = await startCoordinator(config, { logger: createLogger({ level: 'info', destination }) });
    const v1 = loadTccProto().grpcObject.tcc.v1;
    client = new v1.Coordinator(coordinator.address, grpc.credentials.createInsecure());
    admin = new v1.Admin(coordinator.address, grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    admin?.close();
    await coordinator?.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('flags and counts them per client, retries no faster than the capped backoff, folds their log rows, and retention deletes them once resolved', async () => {
    const target = `127.0.0.1:${await deadPort()}`;
    const refused = await call<Transaction__Output>(
      client,
      'Execute',
      { gid: 'dead-target-1', branches: [{ branch_id: 'b1', participant: target, action: 'debit', payload: Buffer.from('x') }], wait: false },
      alice,
    ).then(
      () => 'OK',
      (err: grpc.ServiceError) => err.details,
    );
    // The Try's outcome is unknown to the coordinator (see the report: refused before connecting proves nothing was delivered, but it is still cancelled).
    expect(refused).to.match(/rolled back.*Try outcome unknown: UNAVAILABLE/);
    const get = () => call<Transaction__Output>(admin, 'GetTransaction', { gid: 'dead-target-1' });

    // The Try was refused by the connection: the transaction is cancelling, and its Cancel can never get through.
    const stuck = await pollUntil(get, (t) => t.status === 'CANCELLING' && t.stuck, 'a stuck CANCELLING transaction', 30_000);
    expect(stuck.last_error).to.match(/^UNAVAILABLE/);

    // Flagged with the reason, and counted under the client that began it.
    const metricsText = async () => (await fetch(`http://${coordinator.metricsAddress}/metrics`)).text();
    await pollUntil(
      metricsText,
      (text) => /tcc_transactions_stuck_target_absent_total\{client="token:alice",reason="unavailable"\} 1\b/.test(text),
      'the stuck count of client alice',
      10_000,
    );
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.gid === 'dead-target-1' && String(l.msg).startsWith('transaction stuck'));
    expect(String(warn?.hint)).to.match(/UNAVAILABLE: is the participant address right, and is it running\?/);

    // Retries reach the cap and go no faster: over 3 s, at most one attempt per half a capped interval (jitter 0.5).
    const a1 = (await get()).branches[0].attempts;
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const later = await get();
    const elapsed = Date.now() - t1;
    const made = later.branches[0].attempts - a1;
    expect(made, 'still retrying').to.be.at.least(1);
    expect(made, `${made} attempts in ${elapsed} ms`).to.be.at.most(Math.ceil(elapsed / (RETRY_MAX_MS * 0.5)) + 2);
    expect(Number(later.branches[0].next_retry_unix_ms) - Number(later.updated_unix_ms)).to.be.at.most(RETRY_MAX_MS + 50);

    // Their log rows are folded: a handful of rows, however many attempts.
    const db = new Database(path.join(dir, 'tcc.sqlite'), { readonly: true, fileMustExist: true });
    try {
      const logs = db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(repeats), 0) AS folded FROM tcc_logs WHERE gid = ?').get('dead-target-1') as { n: number; folded: number };
      expect(later.branches[0].attempts).to.be.at.least(8);
      expect(logs.n, `${logs.n} log rows for ${later.branches[0].attempts} attempts`).to.be.at.most(12);
      expect(logs.folded).to.be.above(0);
    } finally {
      db.close();
    }

    // An operator resolves the branch (the participant never existed): the transaction finishes...
    const resolved = await call<Transaction__Output>(admin, 'ResolveBranch', { gid: 'dead-target-1', branch_id: 'b1', reason: 'target never existed', operator: 'ops' });
    expect(resolved.status).to.equal('CANCELLED');
    // ...and retention deletes it (with its branches, logs and owner row) like any finished transaction.
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await coordinator.retention.runOnce()).to.be.at.least(1);
    const gone = await get().then(
      () => 'still there',
      (err: grpc.ServiceError) => grpc.status[err.code],
    );
    expect(gone).to.equal('NOT_FOUND');
    const after = new Database(path.join(dir, 'tcc.sqlite'), { readonly: true, fileMustExist: true });
    try {
      for (const t of ['tcc_transactions', 'tcc_branches', 'tcc_logs', 'tcc_owners']) {
        expect((after.prepare(`SELECT COUNT(*) AS n FROM ${t} WHERE gid = ?`).get('dead-target-1') as { n: number }).n, t).to.equal(0);
      }
    } finally {
      after.close();
    }
  });
});
