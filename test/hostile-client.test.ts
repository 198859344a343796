import { expect } from 'chai';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { killHard, spawnCoordinator, type CoordinatorProcess } from './helpers/coordinator-process';

/** Resident memory of a process in MB (Linux /proc). */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function openFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const raw = (b: Buffer) => b;

/** A protobuf string/bytes field: tag, varint length, bytes. */
function lengthDelimited(field: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...len]), body]);
}

/** Sends already-encoded bytes to `method`: the hostile client's way of building messages no SDK would. */
function rawCall(client: grpc.Client, method: string, body: Buffer, timeoutMs = 20_000): Promise<{ code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, raw, raw, body, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
    );
  });
}

/** A varint as protobuf encodes it. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Rows of the coordinator's tables (read through a second connection to its SQLite file). */
export function rowCounts(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const out: Record<string, number> = {};
    for (const t of ['tcc_transactions', 'tcc_branches', 'tcc_logs']) out[t] = (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
    return out;
  } finally {
    db.close();
  }
}

/** Responsive = a GetTransaction of an unknown gid answers NOT_FOUND in time. */
async function answers(client: grpc.Client, timeoutMs = 10_000): Promise<boolean> {
  const r = await rawCall(client, '/tcc.v1.Coordinator/GetTransaction', lengthDelimited(1, Buffer.from('no-such-gid')), timeoutMs);
  return r.code === grpc.status.NOT_FOUND;
}

describe('hostile client (coordinator as a real process)', function () {
  this.timeout(120_000);
  let dir: string;
  let coordinator: CoordinatorProcess;
  let host: string;
  let port: number;
  let client: grpc.Client;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-hostile-'));
    coordinator = await spawnCoordinator({
      TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}`,
      // Small enough for this machine's file-descriptor budget, big enough to be a real bound.
      TCC_GRPC_MAX_CONNECTIONS: '200',
      TCC_GRPC_MAX_CONCURRENT_STREAMS: '50',
      TCC_GRPC_HANDSHAKE_TIMEOUT_MS: '1000',
      TCC_GRPC_IDLE_TIMEOUT_MS: '60000',
    });
    [host, port] = [coordinator.address.split(':')[0], Number(coordinator.address.split(':')[1])];
    client = new grpc.Client(coordinator.address, grpc.credentials.createInsecure());
    expect(await answers(client)).to.equal(true);
  });

  after(async () => {
    client?.close();
    if (coordinator) await killHard(coordinator);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an Execute of millions of empty BranchSpecs before decoding it, with bounded memory', async () => {
    // 2 million empty BranchSpecs (field 3, length 0): 4 MB, under the Execute byte limit (64 × 64 KiB payloads).
    const body = Buffer.alloc(4_000_000);
    for (let i = 0; i < body.length; i += 2) body[i] = (3 << 3) | 2;
    const before = rssMb(coordinator.child.pid!);
    const attackers = Array.from({ length: 12 }, () => new grpc.Client(coordinator.address, grpc.credentials.createInsecure()));
    const attacks = attackers.map((c) => rawCall(c, '/tcc.v1.Coordinator/Execute', body, 60_000));
    // While the attack runs, an honest call on its own connection still answers.
    expect(await answers(client, 20_000)).to.equal(true);
    const results = await Promise.all(attacks);
    for (const c of attackers) c.close();
    for (const r of results) {
      expect(r.code).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(r.details).to.match(/branches: more than the maximum of 64 entries/);
    }
    // 12 × 4 MB of bytes in flight is the whole cost; decoding them would have cost gigabytes.
    expect(rssMb(coordinator.child.pid!) - before).to.be.below(400);
    expect(await answers(client)).to.equal(true);
  });

  it('refuses a ListTransactions with a million statuses, and a Begin bigger than a Begin can be', async () => {
    const statuses = lengthDelimited(1, Buffer.alloc(1_000_000, 1)); // packed: a million TRYING
    const r = await rawCall(client, '/tcc.v1.Admin/ListTransactions', statuses);
    expect(r.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(r.details).to.match(/over the limit/);
    const fewButRepeated = lengthDelimited(1, Buffer.alloc(17, 1));
    const r2 = await rawCall(client, '/tcc.v1.Admin/ListTransactions', fewButRepeated);
    expect(r2.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(r2.details).to.match(/statuses: more than the maximum of 16 entries/);
    const okList = await rawCall(client, '/tcc.v1.Admin/ListTransactions', lengthDelimited(1, Buffer.from([1, 2])));
    expect(okList.code).to.equal(grpc.status.OK);
    const bigBegin = await rawCall(client, '/tcc.v1.Coordinator/Begin', lengthDelimited(1, Buffer.alloc(100_000, 0x41)));
    expect(bigBegin.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('refuses truncated and malformed messages with INVALID_ARGUMENT, and stores nothing', async () => {
    const file = path.join(dir, 'tcc.sqlite');
    const before = rowCounts(file);
    const spec = (fields: Buffer) => lengthDelimited(2, fields); // TryRequest.branch
    const goodSpec = Buffer.concat([lengthDelimited(2, Buffer.from('127.0.0.1:1')), lengthDelimited(3, Buffer.from('debit'))]);
    const cases: [string, string, Buffer][] = [
      // The finding: a gid whose length prefix says 65 535 bytes with 3 present began a transaction "abc".
      ['string length past the end', '/tcc.v1.Coordinator/Begin', Buffer.from([0x0a, ...varint(65_535), 0x61, 0x62, 0x63])],
      ['truncated varint', '/tcc.v1.Coordinator/Begin', Buffer.from([0x10, 0xff])],
      ['varint over 10 bytes', '/tcc.v1.Coordinator/Begin', Buffer.from([0x10, ...Array<number>(11).fill(0xff), 0x01])],
      ['wrong wire type for gid (varint)', '/tcc.v1.Coordinator/Begin', Buffer.from([0x08, 0x05])],
      ['wrong wire type for timeout_ms (bytes)', '/tcc.v1.Coordinator/Begin', Buffer.concat([lengthDelimited(1, Buffer.from('g-wire')), lengthDelimited(2, Buffer.from('x'))])],
      ['invalid UTF-8 in gid', '/tcc.v1.Coordinator/Begin', lengthDelimited(1, Buffer.from([0x67, 0xff, 0xfe]))],
      ['group wire type', '/tcc.v1.Coordinator/Begin', Buffer.from([0x0b, 0x0c])],
      ['field number 0', '/tcc.v1.Coordinator/Begin', Buffer.from([0x02, 0x00])],
      ['truncated payload inside a Try branch', '/tcc.v1.Coordinator/Try',
        Buffer.concat([lengthDelimited(1, Buffer.from('g-trunc')), spec(Buffer.concat([goodSpec, Buffer.from([0x22, ...varint(60_000), 1, 2, 3])]))])],
      ['invalid UTF-8 in an Execute participant', '/tcc.v1.Coordinator/Execute',
        Buffer.concat([lengthDelimited(1, Buffer.from('g-exec')), lengthDelimited(3, Buffer.concat([lengthDelimited(2, Buffer.from([0xc3, 0x28])), lengthDelimited(3, Buffer.from('a'))]))])],
      ['Execute branch with a wrong wire type', '/tcc.v1.Coordinator/Execute', Buffer.concat([lengthDelimited(1, Buffer.from('g-exec2')), Buffer.from([0x18, 0x01])])],
      ['Abort with a truncated reason', '/tcc.v1.Admin/Abort', Buffer.concat([lengthDelimited(1, Buffer.from('g')), Buffer.from([0x12, 0x10, 0x41])])],
      ['health Check with a truncated service', '/grpc.health.v1.Health/Check', Buffer.from([0x0a, 0x05, 0x41])],
    ];
    for (const [what, method, body] of cases) {
      const r = await rawCall(client, method, body);
      expect(r.code, what).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(r.details, what).to.match(/^request: malformed protobuf message/);
    }
    expect(rowCounts(file)).to.deep.equal(before);
    // The same request, well formed, is accepted: the refusals are about framing, not content.
    const ok = await rawCall(client, '/tcc.v1.Coordinator/Begin', lengthDelimited(1, Buffer.from('g-well-formed')));
    expect(ok.code).to.equal(grpc.status.OK);
    expect(rowCounts(file).tcc_transactions).to.equal(before.tcc_transactions + 1);
  });

  it('bounds idle connections: thousands are held to the limit, silent ones are closed, established clients keep working', async () => {
    const pid = coordinator.child.pid!;
    const baseFds = openFds(pid);
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 3_000; i++) {
        const s = net.connect(port, host);
        s.on('error', () => undefined);
        s.resume(); // read (and drop) what the server sends, so its close is seen
        sockets.push(s);
        if (i % 500 === 499) await sleep(50);
      }
      await sleep(300);
      // The coordinator holds at most the configured 200 (and a few of its own).
      expect(openFds(pid) - baseFds).to.be.at.most(200 + 5);
      // The connection opened before the flood is served throughout.
      expect(await answers(client)).to.equal(true);
      // Silent connections never sent a handshake: the server closes every one of them, those past the limit at
      // once and the rest after TCC_GRPC_HANDSHAKE_TIMEOUT_MS (1 s); then a new client gets in.
      const closedBy = Date.now() + 30_000;
      while (sockets.some((s) => !s.closed) && Date.now() < closedBy) await sleep(100);
      expect(sockets.filter((s) => !s.closed).length).to.equal(0);
      const fresh = new grpc.Client(coordinator.address, grpc.credentials.createInsecure());
      try {
        const deadline = Date.now() + 30_000;
        let ok = false;
        while (!ok && Date.now() < deadline) ok = await answers(fresh, 3_000);
        expect(ok).to.equal(true);
      } finally {
        fresh.close();
      }
      expect(openFds(pid) - baseFds).to.be.at.most(200 + 5);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it('keeps an honest client connected past the handshake timeout', async () => {
    const c = new grpc.Client(coordinator.address, grpc.credentials.createInsecure());
    try {
      expect(await answers(c)).to.equal(true);
      await sleep(1_500);
      expect(c.getChannel().getConnectivityState(false)).to.equal(grpc.connectivityState.READY);
      expect(await answers(c)).to.equal(true);
    } finally {
      c.close();
    }
  });

  it('bounds abandoned streams per connection and releases them when the client leaves', async () => {
    const pid = coordinator.child.pid!;
    const before = rssMb(pid);
    const sessions: http2.ClientHttp2Session[] = [];
    for (let s = 0; s < 20; s++) {
      const session = http2.connect(`http://${coordinator.address}`);
      session.on('error', () => undefined);
      sessions.push(session);
      for (let i = 0; i < 500; i++) {
        // Headers of a call, then nothing: no message, no end of stream.
        const stream = session.request(
          { ':method': 'POST', ':path': '/tcc.v1.Coordinator/GetTransaction', 'content-type': 'application/grpc', te: 'trailers' },
          { endStream: false },
        );
        stream.on('error', () => undefined);
      }
    }
    await sleep(2_000);
    // The server announced TCC_GRPC_MAX_CONCURRENT_STREAMS: past 50 per connection, streams are not opened.
    for (const s of sessions) expect(s.remoteSettings.maxConcurrentStreams).to.equal(50);
    expect(await answers(client, 20_000)).to.equal(true);
    expect(rssMb(pid) - before).to.be.below(300);
    for (const s of sessions) s.destroy();
    await sleep(500);
    expect(await answers(client)).to.equal(true);
  });
});
