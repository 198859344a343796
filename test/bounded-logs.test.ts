import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Writable } from 'node:stream';
import { knexConfigFor, stripStatement } from '../src/store/create-store';
import { describeError, MAX_ERROR_TEXT } from '../src/log/describe-error';
import { killHard, spawnCoordinator, type CoordinatorProcess } from './helpers/coordinator-process';
import * as mysql from 'mysql2/promise';
import { onMariadb } from './helpers/backends';

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

const raw = (b: Buffer) => b;

function rawCall(client: grpc.Client, method: string, body: Buffer, timeoutMs = 30_000): Promise<{ code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, raw, raw, body, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
    );
  });
}

/** Longest line a coordinator prints: a few error texts of MAX_ERROR_TEXT and the usual fields. */
const MAX_LINE_BYTES = 4 * 1024;

/** What every line a coordinator prints must be: one JSON object, bounded, no stack frame, no statement. */
function expectCleanLines(output: readonly string[], payloadMarkers: readonly string[]): void {
  for (const line of output) {
    const shown = line.slice(0, 300);
    expect(() => JSON.parse(line) as unknown, `not JSON: ${shown}`).not.to.throw();
    expect(Buffer.byteLength(line), `line too long: ${shown}`).to.be.at.most(MAX_LINE_BYTES);
    expect(line, `stack frame in: ${shown}`).not.to.match(/\s{2,}at /);
    expect(line, `SQL statement in: ${shown}`).not.to.match(/insert into|update `|select .* from|delete from/i);
    for (const m of payloadMarkers) expect(line.includes(m), `payload bytes in: ${shown}`).to.equal(false);
  }
}

describe('bounded logs', function () {
  this.timeout(180_000);

  // A real statement failure in the database: a trigger refuses the branch INSERT, whose bound values include the payload.
  onMariadb((backend) => {
    let coordinator: CoordinatorProcess | undefined;

    before(async () => {
      coordinator = await spawnCoordinator({ TCC_DB_URL: backend.url, TCC_MAX_PAYLOAD_BYTES: String(1024 * 1024), TCC_LOG_LEVEL: 'debug' }, 60_000);
      const u = new URL(backend.url);
      const conn = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: 'root', database: u.pathname.slice(1) });
      try {
        await conn.query("CREATE TRIGGER refuse_branches BEFORE INSERT ON tcc_branches FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test trigger'");
      } finally {
        await conn.end();
      }
    });

    after(async () => {
      if (coordinator) await killHard(coordinator);
    });

    it('logs the failure as single bounded JSON lines with neither the statement nor the payload', async () => {
      const c = coordinator!;
      const client = new grpc.Client(c.address, grpc.credentials.createInsecure());
      try {
        const begun = await rawCall(client, '/tcc.v1.Coordinator/Begin', lengthDelimited(1, Buffer.from('g-big-payload')));
        expect(begun.code).to.equal(grpc.status.OK);
        // 0x5a = 'Z': the value is searched for as text and as the hex a driver would inline.
        const payload = Buffer.alloc(900 * 1024, 0x5a);
        const spec = Buffer.concat([
          lengthDelimited(1, Buffer.from('b1')),
          lengthDelimited(2, Buffer.from('127.0.0.1:1')),
          lengthDelimited(3, Buffer.from('debit')),
          lengthDelimited(4, payload),
        ]);
        const r = await rawCall(client, '/tcc.v1.Coordinator/Try', Buffer.concat([lengthDelimited(1, Buffer.from('g-big-payload')), lengthDelimited(2, spec)]));
        expect(r.code).to.be.oneOf([grpc.status.INTERNAL, grpc.status.UNAVAILABLE]);
        expect(r.details.length).to.be.below(200);
        expect(r.details).not.to.match(/ZZZZ|5a5a|insert/i);
      } finally {
        client.close();
      }
      // The failure was logged (so the check below saw the line that used to carry the statement).
      await new Promise((res) => setTimeout(res, 500));
      expect(c.output.some((l) => /refused by the test trigger/.test(l)), c.output.join('\n').slice(0, 2_000)).to.equal(true);
      expectCleanLines(c.output, ['ZZZZZZZZZZZZZZZZ', '5a5a5a5a5a5a5a5a', '5A5A5A5A5A5A5A5A']);
    });
  });

  it('logs an unhandled rejection of the coordinator process as one JSON line without its stack, then exits 1', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-bounded-logs-'));
    // Preloaded before main: a rejection nobody handles, with a multi-line message and a stack, once the coordinator runs.
    const preload = path.join(dir, 'reject-later.js');
    fs.writeFileSync(
      preload,
      "setTimeout(() => { Promise.reject(new Error('boom\\n    at secret (payload.js:1:1)\\n' + 'p'.repeat(100000))); }, 1500);\n",
    );
    const child = spawn(process.execPath, ['--require', preload, path.resolve(__dirname, '..', 'src', 'main.js')], {
      env: { PATH: process.env.PATH ?? '', TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    readline.createInterface({ input: child.stdout }).on('line', (l) => output.push(l));
    readline.createInterface({ input: child.stderr }).on('line', (l) => output.push(l));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    await new Promise((r) => setTimeout(r, 100));
    fs.rmSync(dir, { recursive: true, force: true });
    expect(code).to.equal(1);
    expect(output.some((l) => /"msg":"unhandled promise rejection; exiting"/.test(l)), output.join('\n').slice(0, 2_000)).to.equal(true);
    expectCleanLines(output, []);
  });

  describe('in process', () => {
    function capture(): { logger: pino.Logger; lines: string[] } {
      const lines: string[] = [];
      const destination = new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(...chunk.toString().split('\n').filter(Boolean));
          cb();
        },
      });
      return { logger: pino({ level: 'debug' }, destination), lines };
    }

    it("routes knex's own warn/error/deprecate/debug messages into the logger as single lines without stack frames", () => {
      const { logger, lines } = capture();
      const { config } = knexConfigFor('sqlite::memory:', 1, 1_000, logger);
      const stack = `Error: connect ECONNREFUSED\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)\n${'x'.repeat(5_000)}`;
      config.log!.warn!(`Acquire connection error: ${stack}`);
      config.log!.error!(stack);
      config.log!.deprecate!('a is deprecated', 'b');
      config.log!.debug!({ some: 'object' });
      expect(lines).to.have.length(4);
      expectCleanLines(lines, []);
      expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).to.deep.equal(['knex warning', 'knex error', 'knex deprecation', 'knex debug']);
    });

    it('cuts error texts to a bounded length on one line', () => {
      const d = describeError(new Error(`first\n    at frame\n${'v'.repeat(100_000)}`));
      expect(d.length).to.be.below(MAX_ERROR_TEXT + 100);
      expect(d).not.to.match(/\n|\s{2,}at /);
    });

    it('describes a driver error by its code and server message, never its statement', () => {
      const err = Object.assign(new Error("insert into `t` (`a`) values ('secret') - Data too long"), {
        code: 'ER_DATA_TOO_LONG',
        sqlMessage: "Data too long for column 'a' at row 1",
        sql: "insert into `t` (`a`) values ('secret')",
      });
      expect(describeError(err)).to.equal("Error: ER_DATA_TOO_LONG Data too long for column 'a' at row 1");
      const knexErr = new Error('insert into `t` (`a`) values (?) - SQLITE_CONSTRAINT: UNIQUE constraint failed: t.a');
      stripStatement(knexErr, { sql: 'insert into `t` (`a`) values (?)' });
      expect(knexErr.message).to.equal('SQLITE_CONSTRAINT: UNIQUE constraint failed: t.a');
      stripStatement(err, { sql: 'other' });
      expect((err as { sql?: string }).sql).to.equal(undefined);
    });
  });
});
