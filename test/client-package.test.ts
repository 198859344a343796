import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { createLogger } from '../src/log/logger';

const run = promisify(execFile);

/** The repository root (this file runs from dist/test/). */
const ROOT = path.resolve(__dirname, '..', '..');

/** What `tcc-coordinator/client` must not load: the server's storage, logging and reflection. */
const SERVER_ONLY = ['knex', 'ioredis', 'better-sqlite3', 'mysql2', 'pino', '@grpc/reflection'];

/**
 * Prints the packages in require.cache after loading `tcc-coordinator/client`,
 * and where the package's own files were loaded from.
 */
const LOAD_CLIENT = `
const { TccClient, TransactionRolledBackError } = require('tcc-coordinator/client');
if (typeof TccClient !== 'function' || typeof TransactionRolledBackError !== 'function') throw new Error('exports missing');
const files = Object.keys(require.cache);
const packages = new Set();
for (const f of files) {
  const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(f.slice(f.lastIndexOf('node_modules/')));
  if (m) packages.add(m[1]);
}
const own = files.filter((f) => f.includes('tcc-coordinator'));
console.log(JSON.stringify({ packages: [...packages], own }));
`;

/**
 * A participant built with the participant SDK on Redis (so its Lua scripts
 * must be found inside the installed package), and a client SDK transaction
 * through the coordinator at argv[2]: one committed, one refused.
 */
const USE_BOTH = `
const Redis = require('ioredis');
const { TccClient, TransactionRolledBackError } = require('tcc-coordinator/client');
const { ParticipantServer, RedisBarrier, TryRefusedError } = require('tcc-coordinator/participant');

async function main() {
  const [coordinator, prefix] = process.argv.slice(2);
  const redis = new Redis({ host: '127.0.0.1', port: 6379, keyPrefix: prefix, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  await redis.set('stock', '1');
  const hold = {
    async try(tx) { tx.incrby('stock', -1, { min: 0, refusal: 'sold out' }).incrby('held', 1); },
    async confirm(tx) { tx.incrby('held', -1).incrby('sold', 1); },
    async cancel(tx) { tx.incrby('held', -1).incrby('stock', 1); },
  };
  const server = new ParticipantServer({ barrier: new RedisBarrier({ redis }), actions: { hold } });
  const address = await server.listen('127.0.0.1:0');
  const client = new TccClient(coordinator, { callTimeoutMs: 20000 });
  const out = {};
  try {
    const first = await client.transaction({ wait: true }, async (tx) => { await tx.try(address, 'hold', { n: 1 }); });
    out.committed = first.transaction.status;
    out.sold = await redis.get('sold');
    try {
      await client.transaction({ wait: true }, async (tx) => { await tx.try(address, 'hold', { n: 1 }); });
      out.second = 'committed';
    } catch (err) {
      out.second = err instanceof TransactionRolledBackError ? 'rolled back' : String(err);
      out.reason = err.reason;
    }
  } finally {
    client.close();
    await server.shutdown(1000);
    await redis.del('stock', 'held', 'sold');
    redis.disconnect();
  }
  console.log(JSON.stringify(out));
}
main().catch((err) => { console.error(err); process.exit(1); });
`;

/** Type-checks against the installed package's declarations. */
const TYPED = `
import { TccClient, TransactionRolledBackError } from 'tcc-coordinator/client';
import { ParticipantServer, RedisBarrier, TryRefusedError, type ActionHandlers, type RedisChangeSet } from 'tcc-coordinator/participant';
const client: TccClient = new TccClient('127.0.0.1:1');
const refused: typeof TransactionRolledBackError = TransactionRolledBackError;
const handlers: ActionHandlers<RedisChangeSet> = { async try() { throw new TryRefusedError('no'); }, async confirm() {}, async cancel() {} };
export const used = [client, refused, handlers, ParticipantServer, RedisBarrier];
`;

describe('the packed package: client and participant SDK without a source tree', function () {
  this.timeout(300_000);
  let dir: string;
  let consumer: string;
  let coordinator: RunningCoordinator;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-package-'));
    // Packs what `npm pack` / `npm publish` would (dist/ is built by pretest; no second build here).
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    const tarball = path.join(dir, (JSON.parse(stdout) as { filename: string }[])[0].filename);
    consumer = path.join(dir, 'consumer');
    fs.mkdirSync(consumer);
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    // --ignore-scripts: better-sqlite3 is not compiled, which also proves nothing here needs it.
    await run('npm', ['install', tarball, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: consumer, maxBuffer: 64 * 1024 * 1024 });
    const config = loadConfig({ TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}` });
    coordinator = await startCoordinator(config, { logger: createLogger({ level: 'silent' }) });
  });
  after(async () => {
    await coordinator?.shutdown();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ships the runtime only: no tests, benchmark, TypeScript sources or maps', () => {
    const pkg = path.join(consumer, 'node_modules', 'tcc-coordinator');
    for (const absent of ['dist/test', 'dist/bench', 'dist/participants', 'src/index.ts', 'dist/src/index.js.map']) {
      expect(fs.existsSync(path.join(pkg, absent)), absent).to.equal(false);
    }
    for (const present of ['proto/tcc/v1/participant.proto', 'src/participant/lua/barrier-try.lua', 'src/lease/lua/lease-hold.lua', 'dist/src/client/index.d.ts']) {
      expect(fs.existsSync(path.join(pkg, present)), present).to.equal(true);
    }
  });

  it('tcc-coordinator/client loads no knex, ioredis, better-sqlite3, mysql2, pino or reflection (require.cache)', async () => {
    const { stdout } = await run(process.execPath, ['-e', LOAD_CLIENT], { cwd: consumer });
    const { packages, own } = JSON.parse(stdout) as { packages: string[]; own: string[] };
    expect(packages).to.include('@grpc/grpc-js');
    expect(packages.filter((p) => SERVER_ONLY.includes(p))).to.deep.equal([]);
    expect(own.length).to.be.greaterThan(0);
    for (const f of own) expect(f.startsWith(path.join(consumer, 'node_modules', 'tcc-coordinator') + path.sep), f).to.equal(true);
  });

  it('the same from the source tree (dist/src/client)', async () => {
    const script = LOAD_CLIENT.replace("require('tcc-coordinator/client')", `require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'client'))})`);
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: ROOT });
    const { packages } = JSON.parse(stdout) as { packages: string[] };
    expect(packages.filter((p) => SERVER_ONLY.includes(p))).to.deep.equal([]);
  });

  it('a participant (SDK, Redis barrier) and a client (SDK) from the installed package run transactions through a coordinator', async () => {
    fs.writeFileSync(path.join(consumer, 'use-both.js'), USE_BOTH);
    const prefix = `tcc-package-test:${process.pid}:${Date.now()}:`;
    const { stdout } = await run(process.execPath, ['use-both.js', coordinator.address, prefix], { cwd: consumer, timeout: 120_000 });
    const out = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, string>;
    expect(out.committed).to.equal('CONFIRMED');
    expect(out.sold).to.equal('1');
    expect(out.second).to.equal('rolled back');
    expect(out.reason).to.include('sold out');
  });

  it("type-checks against the package's declarations (typesVersions for ./client and ./participant)", async () => {
    fs.writeFileSync(path.join(consumer, 'typed.ts'), TYPED);
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const types = path.join(ROOT, 'node_modules', '@types');
    for (const resolution of ['node10', 'node16']) {
      const module = resolution === 'node16' ? 'node16' : 'commonjs';
      await run(
        process.execPath,
        [tsc, '--noEmit', '--strict', '--skipLibCheck', '--moduleResolution', resolution, '--module', module, '--typeRoots', types, '--types', 'node', 'typed.ts'],
        { cwd: consumer },
      ).catch((err: Error & { stdout?: string }) => expect.fail(`tsc (${resolution}): ${err.stdout ?? err.message}`));
    }
  });
});
