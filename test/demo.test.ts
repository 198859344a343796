/**
 * `npm run demo` as a user runs it: `node dist/participants/demo.js` as a
 * child process with nothing but PATH in its environment (plus DEMO_REDIS_URL
 * where a test takes the local Redis away). Checks its output, its exit code,
 * its duration, and that it leaves no process, temp folder or Redis key behind:
 * on success, without Redis, and when interrupted.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import Redis from 'ioredis';
import { REDIS_URL } from './helpers/redis';

const DEMO = path.resolve(__dirname, '..', 'participants', 'demo.js');
/** Nothing listens there: a port below 1024 that no test machine serves Redis on. */
const NO_REDIS_URL = 'redis://127.0.0.1:9';

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the demo; `interruptWhen` sends SIGINT once stdout matches it. */
function runDemo(env: NodeJS.ProcessEnv, interruptWhen?: RegExp): Promise<DemoRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [DEMO], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (interruptWhen && !interrupted && interruptWhen.test(stdout)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Bounded: a hung demo must fail the test, not hold the run.
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    }),
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pids the demo printed for the processes it started. */
function printedPids(stdout: string): number[] {
  return [...stdout.matchAll(/\bpid (\d+)/g)].map((m) => Number(m[1]));
}

/** The lines of an output section: from its title to the next blank line. */
function section(stdout: string, title: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(title));
  expect(start, `section "${title}" in:\n${stdout}`).to.be.at.least(0);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end).map((l) => l.replace(/\s+/g, ' ').trim());
}

/** Checks that the demo left nothing behind: processes, temp folder, Redis keys. */
async function expectNothingLeft(run: DemoRun): Promise<void> {
  const pids = printedPids(run.stdout);
  for (const pid of pids) expect(alive(pid), `process ${pid} the demo started is still running`).to.equal(false);
  const dir = /temporary data in (\S+?)\)?:/.exec(run.stdout)?.[1];
  expect(dir, run.stdout).to.be.a('string');
  expect(fs.existsSync(dir!), `temp folder ${dir}`).to.equal(false);
  const prefix = /keys under (\S+),/.exec(run.stdout)?.[1];
  if (prefix) {
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.keys(`${prefix}*`), 'Redis keys of the demo run').to.deep.equal([]);
    } finally {
      redis.disconnect();
    }
  }
}

function expectPurchases(stdout: string): void {
  expect(section(stdout, 'Before:')).to.deep.equal([
    'account alice balance 100.00 frozen 0.00',
    'account shop balance 0.00 frozen 0.00',
    'stock widget available 3 reserved 0 sold 0',
  ]);
  expect(stdout).to.match(/^Purchase 1: alice buys 1 widget for 25\.00\n {2}-> committed \(transaction \S+: CONFIRMED\)$/m);
  expect(stdout).to.match(
    /^Purchase 2: alice buys 5 widgets for 50\.00\n {2}-> rolled back: inventory refused reserve: out of stock \(transaction \S+: CANCELLED\)$/m,
  );
  expect(section(stdout, 'After (phase two finished):')).to.deep.equal([
    'account alice balance 75.00 frozen 0.00',
    'account shop balance 25.00 frozen 0.00',
    'stock widget available 2 reserved 0 sold 1',
  ]);
  expect(stdout).to.contain('Money in the accounts: 100.00 before, 100.00 after.');
  expect(stdout).to.contain('Widgets (available + reserved + sold): 3 before, 3 after.');
}

function redisServerOnPath(): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, 'redis-server'), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

describe('npm run demo (dist/participants/demo.js)', function () {
  this.timeout(90_000);

  it('runs a committed and a rolled-back purchase against real processes, exits 0 well under a minute, leaves nothing behind', async () => {
    const run = await runDemo({ PATH: process.env.PATH ?? '' });
    expect(run.code, `exit code; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).to.equal(0);
    expect(run.ms, 'duration in ms').to.be.below(30_000);
    expectPurchases(run.stdout);
    expect(printedPids(run.stdout), 'coordinator, account, inventory (+ redis-server)').to.have.length.of.at.least(3);
    expect(run.stdout).to.match(/Done in \d+\.\d s; every process the demo started is stopped/);
    await expectNothingLeft(run);
  });

  it('without Redis at DEMO_REDIS_URL, starts a private redis-server from PATH (or, with none there, says how to get Redis)', async () => {
    const run = await runDemo({ PATH: process.env.PATH ?? '', DEMO_REDIS_URL: NO_REDIS_URL });
    if (redisServerOnPath()) {
      expect(run.code, `exit code; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).to.equal(0);
      expect(run.stdout).to.match(/redis {8}127\.0\.0\.1:\d+, a private redis-server \(pid \d+, no persistence/);
      expectPurchases(run.stdout);
    } else {
      expect(run.code).to.equal(1);
      expect(run.stdout).to.contain('there is no redis-server on PATH');
    }
    await expectNothingLeft(run);
  });

  it('with no Redis to be found, stops with a message saying how to get it, and exits non-zero', async () => {
    // PATH of an empty folder: no redis-server. The demo starts node through its own path, not PATH.
    const emptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-demo-test-path-'));
    try {
      const run = await runDemo({ PATH: emptyDir, DEMO_REDIS_URL: NO_REDIS_URL });
      expect(run.code).to.equal(1);
      expect(run.stdout).to.contain(`nothing answers at ${NO_REDIS_URL}`);
      expect(run.stdout).to.contain('there is no redis-server on PATH');
      expect(run.stdout).to.contain('apt-get install redis-server');
      expect(run.stdout).to.contain('docker run --rm -p 6379:6379 redis:7');
      expect(run.stdout).not.to.contain('Purchase 1');
      await expectNothingLeft(run);
    } finally {
      fs.rmSync(emptyDir, { recursive: true, force: true });
    }
  });

  it('on Ctrl-C (SIGINT) while running, stops every process it started, removes its data and exits 130', async () => {
    // Interrupted once the services are up: each of them has to be stopped.
    const run = await runDemo({ PATH: process.env.PATH ?? '' }, /inventory {4}\S+ {2}pid \d+/);
    expect(run.code, `exit code; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).to.equal(130);
    expect(run.stdout).to.contain('SIGINT: stopping the services and removing temporary data');
    expect(printedPids(run.stdout)).to.have.length.of.at.least(3);
    await expectNothingLeft(run);
  });
});
