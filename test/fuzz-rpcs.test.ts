import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import Database from 'better-sqlite3';
import { HealthImplementation } from 'grpc-health-check';
import { Enum, MapField, type Type } from 'protobufjs';
import { loadTccProto } from '../src/protocol/tcc-proto';
import { requestTypeOf } from '../src/server/request-schema';
import { createLogger } from '../src/log/logger';
import { noBarrier, ParticipantServer } from '../src/participant';
import * as mysql from 'mysql2/promise';
import { onMariadb } from './helpers/backends';
import { killHard, spawnCoordinator, type CoordinatorProcess } from './helpers/coordinator-process';

/**
 * Fuzzing every RPC the coordinator serves (Coordinator, Admin, health incl.
 * Watch, reflection) and the participant SDK's unary methods with random and
 * boundary values, malformed wire bytes and random bytes, oversized
 * metadata, and thousands of abandoned streams. Seeded: the seed is printed,
 * and TCC_TEST_SEED=<seed> replays a run. Bounded by wall time (FUZZ_MS).
 */

const SEED = process.env.TCC_TEST_SEED ? Number(process.env.TCC_TEST_SEED) >>> 0 : crypto.randomBytes(4).readUInt32BE(0);
/** Wall time of the random-message phase; the stream and metadata phases are bounded by count. */
const FUZZ_MS = 35_000;
/** Fuzzing before the memory baseline is taken. */
const WARMUP_MS = 10_000;
/** Wall time of the shorter MariaDB pass. */
const MARIADB_FUZZ_MS = 8_000;
const CALL_DEADLINE_MS = 10_000;

/** mulberry32: small, fast, and the same sequence for the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rand {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

function varint(v: bigint): number[] {
  let x = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (x > 0x7fn) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}

const tag = (field: number, wireType: number) => Buffer.from(varint(BigInt(field * 8 + wireType)));
const lenField = (field: number, body: Buffer) => Buffer.concat([tag(field, 2), Buffer.from(varint(BigInt(body.length))), body]);

/** Strings a careless server gets wrong: empty, huge, unicode, control characters, injection-looking, id-like. */
function stringValue(r: Rand, targets: readonly string[]): string {
  return r.pick<() => string>([
    () => '',
    () => r.pick(targets),
    () => `g-${r.int(1e9)}`,
    () => 'x'.repeat(r.pick([127, 128, 129, 255, 256, 1024, 70_000])),
    () => '\u0000\u0001\u001f\u007f\n\r\t',
    () => 'é𝔘𝔫𝔦🙂\u202e\u200b\ufeff\uffff',
    () => "'; DROP TABLE tcc_transactions; --",
    () => '%s%n%x{}${}',
    () => '../../etc/passwd',
    () => ' leading and trailing ',
    () => String.fromCharCode(...Array.from({ length: r.int(40) }, () => r.int(0x3000))),
  ])();
}

const INT_EDGES = [0n, 1n, -1n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n];

/** One value of `field` as wire bytes (tag included). */
function encodeField(r: Rand, field: { id: number; type: string; resolvedType: unknown }, targets: readonly string[], depth: number): Buffer {
  const resolved = field.resolvedType;
  if (resolved && !(resolved instanceof Enum)) return lenField(field.id, encodeMessage(r, resolved as Type, targets, depth + 1));
  switch (field.type) {
    case 'string':
      return lenField(field.id, Buffer.from(stringValue(r, targets)));
    case 'bytes':
      return lenField(field.id, r.chance(0.1) ? Buffer.alloc(r.pick([65_535, 65_536, 65_537, 200_000]), 0x5a) : r.bytes(r.int(64)));
    case 'fixed64':
    case 'sfixed64':
    case 'double':
      return Buffer.concat([tag(field.id, 1), r.bytes(8)]);
    case 'fixed32':
    case 'sfixed32':
    case 'float':
      return Buffer.concat([tag(field.id, 5), r.bytes(4)]);
    default: {
      const v = r.chance(0.7) ? r.pick(INT_EDGES) : BigInt(r.int(2 ** 31)) - BigInt(r.int(2 ** 31));
      return Buffer.concat([tag(field.id, 0), Buffer.from(varint(v))]);
    }
  }
}

/** A random message of `type`: some fields, some repeated, in random order, sometimes an unknown field. */
function encodeMessage(r: Rand, type: Type, targets: readonly string[], depth = 0): Buffer {
  const parts: Buffer[] = [];
  if (depth > 3) return Buffer.alloc(0);
  for (const f of type.fieldsArray) {
    if (f instanceof MapField || r.chance(0.3)) continue;
    const n = f.repeated ? r.pick([0, 1, 2, 3, 70]) : 1;
    for (let i = 0; i < n; i++) parts.push(encodeField(r, f, targets, depth));
  }
  if (r.chance(0.1)) parts.push(lenField(900 + r.int(100), r.bytes(r.int(8))));
  for (let i = parts.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [parts[i], parts[j]] = [parts[j], parts[i]];
  }
  return Buffer.concat(parts);
}

/** Breaks a well-formed message the ways a buggy or hostile client would. */
function mutate(r: Rand, msg: Buffer, type: Type | undefined): Buffer {
  return r.pick<() => Buffer>([
    () => msg.subarray(0, r.int(msg.length + 1)), // truncated
    () => {
      const b = Buffer.from(msg);
      if (b.length) b[r.int(b.length)] ^= 1 << r.int(8);
      return b;
    },
    () => {
      // A known field with another wire type.
      const f = type ? r.pick(type.fieldsArray) : undefined;
      const field = f?.id ?? 1 + r.int(5);
      const wt = r.pick([0, 1, 2, 5]);
      const body = wt === 0 ? Buffer.from([0x05]) : wt === 1 ? r.bytes(8) : wt === 5 ? r.bytes(4) : Buffer.from([0x01, 0x41]);
      return Buffer.concat([msg, tag(field, wt), body]);
    },
    () => Buffer.concat([msg, Buffer.from([r.pick([0x0a, 0x12, 0x1a]), ...varint(BigInt(r.pick([1, 127, 65_535, 2 ** 31])))]), r.bytes(r.int(4))]),
    () => Buffer.concat([msg, Buffer.from([0x10, 0xff, 0xff])]), // unterminated varint
    () => Buffer.concat([msg, Buffer.from([r.pick([0x03, 0x04, 0x0e, 0x0f, 0x00])])]), // group / invalid wire type / field 0
    () => Buffer.concat([msg, lenField(1, Buffer.from([0xc3, 0x28, 0xff]))]), // invalid UTF-8 in field 1
  ])();
}

interface Outcome {
  code: grpc.status;
  details: string;
  ms: number;
}

const identity = (b: Buffer) => b;

function rawUnary(client: grpc.Client, method: string, body: Buffer, md = new grpc.Metadata()): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, identity, identity, body, md, { deadline: Date.now() + CALL_DEADLINE_MS }, (err) =>
      resolve({ code: err ? err.code : grpc.status.OK, details: err?.details ?? '', ms: Date.now() - t0 }),
    );
  });
}

/** A streaming method called with one request: its status once the first answer (or the end) arrives. */
function rawStream(client: grpc.Client, method: string, body: Buffer, bidi: boolean, md = new grpc.Metadata()): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const opts = { deadline: Date.now() + CALL_DEADLINE_MS };
    const call = bidi ? client.makeBidiStreamRequest(method, identity, identity, md, opts) : client.makeServerStreamRequest(method, identity, identity, body, md, opts);
    let done = false;
    const finish = (code: grpc.status, details = '') => {
      if (done) return;
      done = true;
      resolve({ code, details, ms: Date.now() - t0 });
    };
    call.on('data', () => {
      // A bidi call ends by itself (its write side is closed); a Watch never does and is cancelled.
      if (bidi) return;
      finish(grpc.status.OK);
      call.cancel();
    });
    call.on('error', (err: grpc.ServiceError) => finish(err.code, err.details));
    call.on('status', (s: grpc.StatusObject) => finish(s.code, s.details));
    if (bidi) {
      (call as grpc.ClientDuplexStream<Buffer, Buffer>).write(body);
      (call as grpc.ClientDuplexStream<Buffer, Buffer>).end();
    }
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every method of a service that adds itself to a server (health, reflection), as definitions. */
function definitionsOf(addToServer: (server: grpc.Server) => void): grpc.MethodDefinition<unknown, unknown>[] {
  const defs: grpc.MethodDefinition<unknown, unknown>[] = [];
  addToServer({ addService: (service: grpc.ServiceDefinition) => defs.push(...Object.values(service)) } as unknown as grpc.Server);
  return defs;
}

/** Codes a bad request must never get: the server failing, or not knowing what happened. */
const NEVER = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN]);
/** Refusals that must leave no row behind. */
const REFUSALS = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED, grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED, grpc.status.OUT_OF_RANGE]);

/** One fuzzed call at a time, with what went wrong; `rows` counts the rows a refused call must not add. */
function createFuzzer(r: Rand, targets: readonly string[], rows: () => Promise<string>) {
  const failures: string[] = [];
  const counts = new Map<string, number>();
  const stats = { calls: 0, refusalsChecked: 0 };
  let unsettledUntil = 0;

  const fuzzOne = async (client: grpc.Client, def: grpc.MethodDefinition<unknown, unknown>, onCoordinator: boolean) => {
    const type = requestTypeOf(def);
    const kind = r.int(10);
    let body: Buffer;
    if (kind < 2 || !type) body = r.bytes(r.pick([0, 1, 2, 5, 17, 100, 1_000, 20_000])); // random bytes as the whole message
    else if (kind < 6) body = encodeMessage(r, type, targets);
    else body = mutate(r, encodeMessage(r, type, targets), type);
    const t0 = Date.now();
    const before = onCoordinator ? await rows() : '';
    const out = def.requestStream || def.responseStream ? await rawStream(client, def.path, body, def.requestStream) : await rawUnary(client, def.path, body);
    stats.calls++;
    const key = `${def.path} ${grpc.status[out.code]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (NEVER.has(out.code)) failures.push(`${key} (${out.details}) for ${body.subarray(0, 64).toString('hex')} (${body.length} bytes)`);
    if (out.ms > CALL_DEADLINE_MS + 3_000) failures.push(`${def.path} answered after ${out.ms} ms`);
    // A call the client gave up on (deadline) may still be writing on the server: no row check for a while after.
    if (out.code === grpc.status.DEADLINE_EXCEEDED || out.code === grpc.status.CANCELLED) unsettledUntil = Date.now() + 5_000;
    if (onCoordinator && REFUSALS.has(out.code) && t0 > unsettledUntil) {
      stats.refusalsChecked++;
      const after = await rows();
      if (after !== before) failures.push(`${key} stored rows (${before} -> ${after}) for ${body.subarray(0, 64).toString('hex')}`);
    }
  };
  return { fuzzOne, failures, counts, stats };
}

/** Every method the coordinator serves, and the participant SDK's unary ones. */
function servedMethods() {
  const { grpcObject, packageDefinition } = loadTccProto();
  const coordinatorDefs = [
    ...Object.values(grpcObject.tcc.v1.Coordinator.service),
    ...Object.values(grpcObject.tcc.v1.Admin.service),
    ...definitionsOf((s) => new HealthImplementation({}).addToServer(s)),
    ...definitionsOf((s) => new ReflectionService(packageDefinition).addToServer(s)),
  ] as grpc.MethodDefinition<unknown, unknown>[];
  const participantDefs = (Object.values(grpcObject.tcc.v1.Participant.service) as grpc.MethodDefinition<unknown, unknown>[]).filter(
    (d) => !d.requestStream && !d.responseStream,
  );
  return { coordinatorDefs, participantDefs };
}

describe(`fuzzing every RPC (seed ${SEED}; replay with TCC_TEST_SEED=${SEED})`, function () {
  this.timeout(240_000);
  let dir: string;
  let coordinator: CoordinatorProcess;
  let participant: ParticipantServer;
  let participantAddress: string;
  let db: Database.Database;

  before(async () => {
    console.log(`      fuzz seed ${SEED} (replay: TCC_TEST_SEED=${SEED})`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-fuzz-'));
    participant = new ParticipantServer({
      barrier: noBarrier,
      actions: { debit: { try: async () => 'ok', confirm: async () => undefined, cancel: async () => undefined } },
      logger: createLogger({ level: 'silent' }),
    });
    participantAddress = await participant.listen('127.0.0.1:0');
    coordinator = await spawnCoordinator({
      TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}`,
      // Only loopback targets are ever dialled: a fuzzed target is refused before any lookup.
      TCC_PARTICIPANT_ALLOW: '127.0.0.1:*',
      TCC_BRANCH_TIMEOUT_MS: '2000',
    });
    db = new Database(path.join(dir, 'tcc.sqlite'), { readonly: true, fileMustExist: true });
  });

  after(async () => {
    db?.close();
    if (coordinator) await killHard(coordinator);
    await participant?.shutdown(1_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const rows = () =>
    ['tcc_transactions', 'tcc_branches'].map((t) => (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n).join('/');

  it('answers every fuzzed call of every service with a status other than INTERNAL/UNKNOWN, in time, storing nothing when refusing; the process lives and its memory comes back', async () => {
    const r = new Rand(SEED);
    const { coordinatorDefs, participantDefs } = servedMethods();
    const targets = ['127.0.0.1:1', participantAddress, 'example.com:443', 'dns:///evil.example:1', 'unix:/tmp/x', ''];
    const coordinatorClient = new grpc.Client(coordinator.address, grpc.credentials.createInsecure());
    const participantClient = new grpc.Client(participantAddress, grpc.credentials.createInsecure());
    const pid = coordinator.child.pid!;
    const fuzzer = createFuzzer(r, targets, async () => rows());
    const { fuzzOne, failures, counts, stats } = fuzzer;


    // nghttp2 closes a connection whose client resets streams faster than ~33/s (its rapid-reset defence:
    // GOAWAY INTERNAL_ERROR, which the client reports as INTERNAL). Each Watch is cancelled by the client, so
    // Watch gets every 100th call (a count, not a clock: the same seed replays the same calls).
    const isWatch = (d: grpc.MethodDefinition<unknown, unknown>) => d.responseStream && !d.requestStream;
    const watchDef = coordinatorDefs.find(isWatch)!;
    const otherDefs = coordinatorDefs.filter((d) => !isWatch(d));
    let i = 0;
    const fuzzFor = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        i++;
        if (i % 100 === 0) await fuzzOne(coordinatorClient, watchDef, true);
        else if (r.chance(0.8)) await fuzzOne(coordinatorClient, r.pick(otherDefs), true);
        else await fuzzOne(participantClient, r.pick(participantDefs), false);
      }
    };
    // Warm-up with the same calls, then the baseline memory: the process at its working size
    // (compiled code, pools, the database's page cache), so what is measured after the run is
    // what the run left behind, not what any busy process holds.
    await fuzzFor(WARMUP_MS);
    await sleep(2_000);
    const baseline = rssMb(pid);
    await fuzzFor(FUZZ_MS);

    // Oversized and odd metadata on every coordinator method: each call still ends with a status.
    for (const def of coordinatorDefs) {
      const md = new grpc.Metadata();
      md.set('x-big', 'v'.repeat(r.pick([8_000, 15_000, 60_000])));
      md.set('authorization', `Bearer ${'z'.repeat(4_000)}`);
      md.set('traceparent', '00-zz-not-a-trace-01');
      md.set('x-bin', Buffer.alloc(2_000, 0xff));
      const type = requestTypeOf(def);
      const body = type ? encodeMessage(r, type, targets) : Buffer.alloc(0);
      const out = def.requestStream || def.responseStream ? await rawStream(coordinatorClient, def.path, body, def.requestStream, md) : await rawUnary(coordinatorClient, def.path, body, md);
      if (out.ms > CALL_DEADLINE_MS + 3_000) failures.push(`${def.path} with big metadata answered after ${out.ms} ms`);
      if (NEVER.has(out.code)) failures.push(`${def.path} with big metadata: ${grpc.status[out.code]} (${out.details})`);
      counts.set(`${def.path} +metadata ${grpc.status[out.code]}`, 1);
    }

    // Thousands of health Watch and reflection streams, opened and abandoned (the connection just goes away).
    const watch = lenField(1, Buffer.from(''));
    const frame = (msg: Buffer) => Buffer.concat([Buffer.from([0, (msg.length >>> 24) & 255, (msg.length >>> 16) & 255, (msg.length >>> 8) & 255, msg.length & 255]), msg]);
    let streams = 0;
    for (let round = 0; round < 5; round++) {
      const sessions: http2.ClientHttp2Session[] = [];
      for (let s = 0; s < 10; s++) {
        const session = http2.connect(`http://${coordinator.address}`);
        session.on('error', () => undefined);
        sessions.push(session);
        for (let i = 0; i < 100; i++) {
          const reflection = i % 2 === 1;
          const stream = session.request(
            {
              ':method': 'POST',
              ':path': reflection ? '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo' : '/grpc.health.v1.Health/Watch',
              'content-type': 'application/grpc',
              te: 'trailers',
            },
            { endStream: false },
          );
          stream.on('error', () => undefined);
          stream.resume();
          stream.write(frame(reflection ? lenField(7, Buffer.from('')) : watch));
          streams++;
        }
      }
      await sleep(300);
      for (const s of sessions) s.destroy();
    }

    // The process lives, answers, and its memory comes back near the baseline.
    expect(coordinator.child.exitCode, 'coordinator exited').to.equal(null);
    const alive = await rawUnary(coordinatorClient, '/grpc.health.v1.Health/Check', Buffer.alloc(0));
    expect(alive.code).to.equal(grpc.status.OK);
    let rss = rssMb(pid);
    const settleBy = Date.now() + 30_000;
    while (rss - baseline > 64 && Date.now() < settleBy) {
      await sleep(1_000);
      rss = rssMb(pid);
    }
    coordinatorClient.close();
    participantClient.close();
    console.log(
      `      ${stats.calls} fuzzed calls (${stats.refusalsChecked} refusals checked for rows), ${streams} abandoned streams; RSS ${baseline.toFixed(0)} -> ${rss.toFixed(0)} MB`,
    );
    if (failures.length > 0 || process.env.TCC_FUZZ_VERBOSE) console.log([...counts.entries()].map(([k, v]) => `        ${k}: ${v}`).join('\n'));
    expect(failures.slice(0, 20), `seed ${SEED}`).to.deep.equal([]);
    expect(stats.refusalsChecked).to.be.above(100);
    expect(rss - baseline, `RSS ${baseline} -> ${rss} MB`).to.be.below(64);
  });
});

/** A shorter pass on MariaDB: its driver and statements see the same fuzzed values. */
describe(`fuzzing the Coordinator and Admin RPCs on MariaDB (seed ${SEED})`, function () {
  this.timeout(120_000);
  onMariadb((backend) => {
    let coordinator: CoordinatorProcess | undefined;
    let conn: mysql.Connection | undefined;

    before(async () => {
      coordinator = await spawnCoordinator({ TCC_DB_URL: backend.url, TCC_PARTICIPANT_ALLOW: '127.0.0.1:*', TCC_BRANCH_TIMEOUT_MS: '2000' }, 60_000);
      const u = new URL(backend.url);
      conn = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: 'root', database: u.pathname.slice(1) });
    });

    after(async () => {
      await conn?.end();
      if (coordinator) await killHard(coordinator);
    });

    it('answers every fuzzed call with a status other than INTERNAL/UNKNOWN, in time, storing nothing when refusing', async () => {
      const r = new Rand(SEED ^ 0x9e3779b9);
      const rows = async () => {
        const [res] = (await conn!.query('SELECT (SELECT COUNT(*) FROM tcc_transactions) AS t, (SELECT COUNT(*) FROM tcc_branches) AS b')) as unknown as [{ t: number; b: number }[]];
        return `${res[0].t}/${res[0].b}`;
      };
      const { coordinatorDefs } = servedMethods();
      const defs = coordinatorDefs.filter((d) => d.path.startsWith('/tcc.v1.'));
      const { fuzzOne, failures, counts, stats } = createFuzzer(r, ['127.0.0.1:1', 'example.com:443', ''], rows);
      const client = new grpc.Client(coordinator!.address, grpc.credentials.createInsecure());
      try {
        const until = Date.now() + MARIADB_FUZZ_MS;
        while (Date.now() < until) await fuzzOne(client, r.pick(defs), true);
      } finally {
        client.close();
      }
      console.log(`      ${stats.calls} fuzzed calls on MariaDB (${stats.refusalsChecked} refusals checked for rows)`);
      if (failures.length > 0) console.log([...counts.entries()].map(([k, v]) => `        ${k}: ${v}`).join('\n'));
      expect(coordinator!.child.exitCode, 'coordinator exited').to.equal(null);
      expect(failures.slice(0, 20), `seed ${SEED}`).to.deep.equal([]);
      expect(stats.refusalsChecked).to.be.above(20);
    });
  });
});
