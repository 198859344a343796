import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { createLogger } from '../src/log/logger';
import { loadTccProto } from '../src/protocol/tcc-proto';
import type { AdminClient } from '../src/generated/tcc/v1/Admin';
import type { ListTransactionsResponse__Output } from '../src/generated/tcc/v1/ListTransactionsResponse';
import type { Transaction__Output } from '../src/generated/tcc/v1/Transaction';
import { createCoordinatorClient, expectGrpcError, pollUntil, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';
import { REDIS_URL, requireRedis } from './helpers/redis';

const ADMIN_TOKEN = 'test-admin-token-0123456789';

function tempDb(): { url: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-hygiene-'));
  return { dir, url: `sqlite:${path.join(dir, 'tcc.sqlite')}` };
}

function unaryCall<T>(fn: (md: grpc.Metadata, o: grpc.CallOptions, cb: grpc.requestCallback<T>) => unknown, md = new grpc.Metadata()): Promise<T> {
  return new Promise((resolve, reject) => {
    fn(md, { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

describe('service hygiene', function () {
  this.timeout(30_000);
  let coordinator: RunningCoordinator;
  let participant: TestParticipant;
  let client: TestCoordinatorClient;
  let admin: AdminClient;
  let dir: string;
  const logLines: string[] = [];

  before(async () => {
    const db = tempDb();
    dir = db.dir;
    participant = await startTestParticipant();
    const config = loadConfig({
      TCC_GRPC_ADDR: '127.0.0.1:0',
      TCC_DB_URL: db.url,
      TCC_ADMIN_TOKEN: ADMIN_TOKEN,
      TCC_RETRY_INITIAL_MS: '50',
      TCC_RETRY_MAX_MS: '100',
      TCC_BRANCH_TIMEOUT_MS: '500',
      TCC_LOG_LEVEL: 'debug',
    });
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    coordinator = await startCoordinator(config, { logger: createLogger({ level: 'debug', node: 'hygiene', destination }) });
    client = createCoordinatorClient(coordinator.address);
    admin = new (loadTccProto().grpcObject.tcc.v1.Admin)(coordinator.address, grpc.credentials.createInsecure());
  });

  after(async () => {
    client.close();
    admin.close();
    await coordinator.shutdown();
    await participant.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers grpc.health.v1 Check with SERVING for the server and tcc.v1.Coordinator', async () => {
    const def = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String });
    type HealthClient = grpc.Client & { check(req: { service: string }, o: grpc.CallOptions, cb: grpc.requestCallback<{ status: string }>): void };
    const Health = (grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: new (t: string, c: grpc.ChannelCredentials) => HealthClient } } } }).grpc.health.v1.Health;
    const health = new Health(coordinator.address, grpc.credentials.createInsecure());
    try {
      for (const service of ['', 'tcc.v1.Coordinator']) {
        const res = await new Promise<{ status: string }>((resolve, reject) =>
          health.check({ service }, { deadline: Date.now() + 5_000 }, (e, r) => (e ? reject(e) : resolve(r!))),
        );
        expect(res.status, `health of "${service}"`).to.equal('SERVING');
      }
    } finally {
      health.close();
    }
  });

  it('lists its services over server reflection (what grpcurl uses without proto files)', async () => {
    const reflectionProto = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1alpha/reflection.proto');
    const def = protoLoader.loadSync(reflectionProto, { keepCase: true });
    type Stream = grpc.ClientDuplexStream<object, { list_services_response?: { service: { name: string }[] } }>;
    const Ctor = (grpc.loadPackageDefinition(def) as unknown as {
      grpc: { reflection: { v1alpha: { ServerReflection: new (t: string, c: grpc.ChannelCredentials) => grpc.Client & { ServerReflectionInfo(o: grpc.CallOptions): Stream } } } };
    }).grpc.reflection.v1alpha.ServerReflection;
    const c = new Ctor(coordinator.address, grpc.credentials.createInsecure());
    try {
      const names = await new Promise<string[]>((resolve, reject) => {
        const stream = c.ServerReflectionInfo({ deadline: Date.now() + 5_000 });
        stream.on('data', (msg: { list_services_response?: { service: { name: string }[] } }) => {
          resolve((msg.list_services_response?.service ?? []).map((s) => s.name));
          stream.end();
        });
        stream.on('error', reject);
        stream.write({ list_services: '*' });
      });
      expect(names).to.include.members(['tcc.v1.Coordinator', 'tcc.v1.Admin']);
    } finally {
      c.close();
    }
  });

  it('refuses Admin calls without the token (UNAUTHENTICATED), with a wrong one, and serves them with it', async () => {
    await expectGrpcError(unaryCall<ListTransactionsResponse__Output>((md, o, cb) => admin.ListTransactions({}, md, o, cb)), grpc.status.UNAUTHENTICATED, 'no token');
    const wrong = new grpc.Metadata();
    wrong.set('authorization', 'Bearer not-the-token-at-all');
    await expectGrpcError(unaryCall<ListTransactionsResponse__Output>((md, o, cb) => admin.ListTransactions({}, md, o, cb), wrong), grpc.status.UNAUTHENTICATED, 'wrong token');
    const right = new grpc.Metadata();
    right.set('authorization', `Bearer ${ADMIN_TOKEN}`);
    const res = await unaryCall<ListTransactionsResponse__Output>((md, o, cb) => admin.ListTransactions({}, md, o, cb), right);
    expect(res.transactions).to.be.an('array');
  });

  it('pages ListTransactions by status and replays a stuck transaction with RetryTransaction', async () => {
    const auth = new grpc.Metadata();
    auth.set('authorization', `Bearer ${ADMIN_TOKEN}`);
    const t = participant.target;
    for (let i = 0; i < 5; i++) await client.execute({ branches: [{ participant: t, action: 'page' }], wait: true });
    const seen: string[] = [];
    let token = '';
    do {
      const page: ListTransactionsResponse__Output = await unaryCall((md, o, cb) => admin.ListTransactions({ statuses: ['CONFIRMED'], limit: 2, page_token: token }, md, o, cb), auth);
      expect(page.transactions.length).to.be.at.most(2);
      for (const x of page.transactions) expect(x.status).to.equal('CONFIRMED');
      seen.push(...page.transactions.map((x) => x.gid));
      token = page.next_page_token;
    } while (token);
    expect(seen.length).to.be.at.least(5);
    expect(new Set(seen).size, 'no gid on two pages').to.equal(seen.length);

    // A Confirm that keeps failing, then the participant is fixed and an operator replays it at once.
    participant.setBehavior('confirm', 'unavailable');
    const txn = await client.execute({ branches: [{ participant: t, action: 'replay' }] });
    await pollUntil(() => client.getTransaction({ gid: txn.gid }), (x) => x.attempts >= 1, 'a failed Confirm round');
    participant.setBehavior('confirm', 'ok');
    const replayed: Transaction__Output = await unaryCall((md, o, cb) => admin.RetryTransaction({ gid: txn.gid }, md, o, cb), auth);
    expect(replayed.status).to.equal('CONFIRMED');
    await expectGrpcError(unaryCall((md, o, cb) => admin.RetryTransaction({ gid: 'no-such-gid' }, md, o, cb), auth), grpc.status.NOT_FOUND, 'unknown gid');
  });

  it('logs gid and branch_id on transaction lines and never the payload bytes', async () => {
    const marker = 'SECRET-PAYLOAD-7f3a';
    participant.setBehavior('confirm', 'unavailable');
    const txn = await client.execute({ branches: [{ branch_id: 'logged', participant: participant.target, action: 'log', payload: Buffer.from(marker) }] });
    await pollUntil(() => client.getTransaction({ gid: txn.gid }), (x) => x.attempts >= 1, 'a failed Confirm round');
    participant.setBehavior('confirm', 'ok');
    await pollUntil(() => client.getTransaction({ gid: txn.gid }), (x) => x.status === 'CONFIRMED', 'CONFIRMED');
    const mine = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.gid === txn.gid);
    expect(mine.some((l) => l.branch_id === 'logged' && l.level === 'warn'), 'a warn line naming the branch').to.equal(true);
    expect(mine.some((l) => l.msg === 'transaction finished')).to.equal(true);
    const all = logLines.join('\n');
    expect(all).to.not.include(marker);
    expect(all).to.not.include(Buffer.from(marker).toString('base64'));
    expect(all).to.not.match(/\n\s+at /, 'no stack traces');
  });
});

describe('service hygiene with Redis', function () {
  this.timeout(30_000);

  before(async function () {
    await requireRedis(this);
  });

  it('connects to TCC_REDIS_URL at start and closes the connection on shutdown', async () => {
    const db = tempDb();
    const config = loadConfig({ TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: db.url, TCC_REDIS_URL: REDIS_URL, TCC_LOG_LEVEL: 'silent' });
    const c = await startCoordinator(config);
    try {
      expect(c.redis, 'a Redis client').to.not.equal(undefined);
      expect(c.redis!.status).to.equal('ready');
      expect(await c.redis!.ping()).to.equal('PONG');
    } finally {
      await c.shutdown();
      fs.rmSync(db.dir, { recursive: true, force: true });
    }
    expect(c.redis!.status).to.equal('end');
  });

  it('starts and serves when Redis is unreachable: correctness never rests on Redis', async () => {
    const db = tempDb();
    const config = loadConfig({ TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: db.url, TCC_REDIS_URL: 'redis://127.0.0.1:1', TCC_LOG_LEVEL: 'silent' });
    const c = await startCoordinator(config);
    const client = createCoordinatorClient(c.address);
    try {
      const { gid } = await client.begin({});
      expect((await client.rollback({ gid })).status).to.equal('CANCELLED');
    } finally {
      client.close();
      await c.shutdown();
      fs.rmSync(db.dir, { recursive: true, force: true });
    }
  });
});
