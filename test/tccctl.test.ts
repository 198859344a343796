/**
 * The real tccctl (`node dist/src/cli/tccctl.js`, a child process with an
 * explicit environment) against a running coordinator on MariaDB with an
 * admin token: every command's output and exit code.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import type { RunningCoordinator } from '../src/coordinator';
import type { Transaction__Output } from '../src/generated/tcc/v1/Transaction';
import * as grpc from '@grpc/grpc-js';
import { AdminCallError, type AdminApi } from '../src/cli/admin-client';
import { parseDuration } from '../src/cli/durations';
import { runCommand } from '../src/cli/tccctl-commands';
import { createCoordinatorClient, onMariadb, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { createAdminClient, type TestAdminClient } from './helpers/admin-client';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

const CLI = path.resolve(__dirname, '..', 'src', 'cli', 'tccctl.js');
const TOKEN = 'tccctl-test-token-0123456789';
const NODE = 'tccctl-test-node';
const OPERATOR = 'ops-tester';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs tccctl with exactly `env` (plus PATH): nothing leaks in from the test runner's environment. */
function runCli(args: readonly string[], env: Record<string, string>, timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tccctl ${args.join(' ')} did not exit within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function describeRun(args: readonly string[], r: CliResult): string {
  return `tccctl ${args.join(' ')} → exit ${r.code}\n--- stdout:\n${r.stdout}--- stderr:\n${r.stderr}`;
}

/** A failure: the wanted exit code, nothing on stdout, exactly one line on stderr and no stack trace. */
function expectFailure(args: readonly string[], r: CliResult, code: number, pattern: RegExp): void {
  const what = describeRun(args, r);
  expect(r.code, what).to.equal(code);
  expect(r.stdout, `${what}\n(stdout must stay empty)`).to.equal('');
  expect(r.stderr.trimEnd().split('\n'), `${what}\n(one line on stderr)`).to.have.length(1);
  expect(r.stderr, what).to.match(/^tccctl: /);
  expect(r.stderr, what).to.match(pattern);
  expect(r.stderr, `${what}\n(no stack trace)`).to.not.match(/\n\s+at /);
}

/** A list item as the coordinator sends it (strings for int64, no branches). */
function stubTransaction(gid: string, status: string): Transaction__Output {
  return {
    gid,
    status: status as Transaction__Output['status'],
    reason: '',
    created_unix_ms: String(Date.now()),
    updated_unix_ms: String(Date.now()),
    deadline_unix_ms: String(Date.now() + 60_000),
    decided_unix_ms: String(Date.now()),
    attempts: 3,
    next_retry_unix_ms: '0',
    last_error: '',
    stuck: status !== 'CONFIRMED',
    owner: '',
    branches: [],
    logs: [],
    logs_omitted: 0,
  };
}

/** The line of a table or timeline that contains `needle`. */
function lineWith(text: string, needle: string): string {
  const line = text.split('\n').find((l) => l.includes(needle));
  if (line === undefined) throw new Error(`no line contains "${needle}" in:\n${text}`);
  return line;
}

describe('tccctl', function () {
  this.timeout(60_000);

  describe('without a coordinator', () => {
    const env = { TCC_ADDR: '127.0.0.1:1', TCC_ADMIN_TOKEN: TOKEN };

    it('--help prints every command and the exit codes, and exits 0', async () => {
      for (const args of [['--help'], ['help'], ['resolve', '--help']]) {
        const r = await runCli(args, env);
        expect(r.code, describeRun(args, r)).to.equal(0);
        expect(r.stderr).to.equal('');
        expect(r.stdout).to.include('tccctl resolve GID BRANCH --reason TEXT');
        for (const line of ['0  ok', '2  usage error', '3  NOT_FOUND', '4  UNAUTHENTICATED', '5  FAILED_PRECONDITION', '6  UNAVAILABLE / DEADLINE_EXCEEDED', '7  INVALID_ARGUMENT', '1  any other failure']) {
          expect(r.stdout, `${args.join(' ')}: exit code line "${line}"`).to.include(line);
        }
      }
      const all = await runCli(['--help'], env);
      for (const cmd of ['tccctl list', 'tccctl show GID', 'tccctl retry GID', 'tccctl retry --stuck', 'tccctl abort GID']) {
        expect(all.stdout).to.include(cmd);
      }
    });

    it('exits 2 with one line on stderr for usage errors, before calling anything', async () => {
      const cases: Array<[string[], RegExp]> = [
        [[], /no command given/],
        [['frobnicate'], /unknown command "frobnicate"/],
        [['show'], /show needs GID/],
        [['show', 'a', 'b'], /unexpected argument "b"/],
        [['resolve', 'g1', 'b1'], /resolve needs --reason/],
        [['resolve', 'g1', 'b1', '--reason', '  '], /resolve needs --reason/],
        [['resolve', 'g1', '--reason', 'x'], /resolve needs GID BRANCH/],
        [['retry'], /retry needs GID/],
        [['retry', 'g1', '--stuck'], /either GID or --stuck/],
        [['abort', 'g1', '--stuck'], /--stuck does not apply to abort/],
        [['list', '--bogus'], /unknown option --bogus/],
        [['list', '--older-than', '5x'], /--older-than takes a span/],
        [['list', '--limit', '0'], /--limit must be a whole number from 1 to 500/],
        [['list', '--limit', '501'], /--limit must be/],
        [['list', '--status', 'DONE'], /--status must be one of/],
        [['list', '--timeout', 'abc'], /--timeout must be a whole number/],
        [['show', 'g1', '--reason'], /option --reason needs a value|--reason does not apply/],
        [['list', '--operator', 'bad\u0007name'], /--operator/],
      ];
      for (const [args, pattern] of cases) expectFailure(args, await runCli(args, env), 2, pattern);
    });

    it('exits 6 when nothing listens at the address (UNAVAILABLE)', async () => {
      for (const args of [['list'], ['show', 'g1'], ['retry', '--stuck'], ['abort', 'g1', '--json']]) {
        expectFailure(args, await runCli(args, env), 6, /coordinator at 127\.0\.0\.1:1 is unreachable \(UNAVAILABLE/);
      }
    });

    it('exits 6 when the coordinator accepts the connection but never answers: every call has a deadline (--timeout)', async () => {
      const held: net.Socket[] = [];
      const blackHole = net.createServer((s) => void held.push(s));
      await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
      const addr = `127.0.0.1:${(blackHole.address() as net.AddressInfo).port}`;
      try {
        const args = ['show', 'g1', '--timeout', '300', '--addr', addr];
        const started = Date.now();
        const r = await runCli(args, env);
        expectFailure(args, r, 6, /did not answer GetTransaction within 300 ms \(DEADLINE_EXCEEDED\)/);
        expect(Date.now() - started, 'ended by its deadline, not by a hang').to.be.lessThan(5_000);
      } finally {
        for (const s of held) s.destroy();
        await new Promise((resolve) => blackHole.close(resolve));
      }
    });

    it('retry --stuck exits non-zero when a retry call fails: that failure\'s code when all agree, 1 when they differ', async () => {
      // The coordinator cannot be made to fail RetryTransaction on a listed gid at will; a stand-in Admin API can.
      const fake = (failures: Record<string, grpc.status>): AdminApi => ({
        listTransactions: async (req) => {
          expect(req.stuck_only).to.equal(true);
          const page = req.page_token ? ['t3'] : ['t1', 't2'];
          return { transactions: page.map((gid) => stubTransaction(gid, 'CONFIRMING')), next_page_token: req.page_token ? '' : 'p2' };
        },
        retryTransaction: async (gid) => {
          if (failures[gid] !== undefined) throw new AdminCallError('RetryTransaction', failures[gid], `failed ${gid}`);
          return stubTransaction(gid, 'CONFIRMED');
        },
        getTransaction: () => Promise.reject(new Error('not used')),
        abort: () => Promise.reject(new Error('not used')),
        resolveBranch: () => Promise.reject(new Error('not used')),
        close: () => undefined,
      });
      const settings = { addr: 'fake:1', token: TOKEN, operator: OPERATOR, timeoutMs: 1_000, json: false };
      const run = async (failures: Record<string, grpc.status>) => {
        let out = '';
        let err = '';
        const code = await runCommand({ name: 'retry-stuck' }, { api: fake(failures), settings, out: (t) => (out += t), err: (t) => (err += t), now: Date.now });
        return { code, out, err };
      };

      const fine = await run({});
      expect(fine.code).to.equal(0);
      expect(fine.out).to.include('3 stuck transactions retried: 3 finished, 0 still pending, 0 failed');

      const unavailable = await run({ t2: grpc.status.UNAVAILABLE });
      expect(unavailable.code).to.equal(6);
      expect(unavailable.out).to.match(/^retried t1: CONFIRMED$/m);
      expect(unavailable.out).to.match(/^FAILED t2: coordinator at fake:1 is unreachable \(UNAVAILABLE: failed t2\)$/m);
      expect(unavailable.out, 'goes on after a failure').to.match(/^retried t3: CONFIRMED$/m);
      expect(unavailable.out).to.include('3 stuck transactions retried: 2 finished, 0 still pending, 1 failed');
      expect(unavailable.err).to.equal('tccctl: 1 of 3 retries failed\n');

      expect((await run({ t1: grpc.status.NOT_FOUND, t3: grpc.status.NOT_FOUND })).code).to.equal(3);
      expect((await run({ t1: grpc.status.NOT_FOUND, t3: grpc.status.UNAVAILABLE })).code).to.equal(1);
    });

    it('reads --older-than spans as the help says', () => {
      expect(parseDuration('30s')).to.equal(30_000);
      expect(parseDuration('10m')).to.equal(600_000);
      expect(parseDuration('2h')).to.equal(7_200_000);
      expect(parseDuration('1d')).to.equal(86_400_000);
      expect(parseDuration('250')).to.equal(250);
      expect(parseDuration('250ms')).to.equal(250);
      for (const bad of ['', 'm', '1.5h', '-1s', '10 minutes', '1w']) expect(parseDuration(bad), bad).to.equal(undefined);
    });
  });

  onMariadb((backend) => {
    let coordinator: RunningCoordinator | undefined;
    let participant: TestParticipant | undefined;
    let client: TestCoordinatorClient;
    let admin: TestAdminClient;
    let target: string;
    let env: Record<string, string>;

    before(async () => {
      participant = await startTestParticipant();
      target = participant.target;
      coordinator = await startTestCoordinator(backend, {
        TCC_ADMIN_TOKEN: TOKEN,
        TCC_NODE_ID: NODE,
        TCC_STUCK_AFTER_ATTEMPTS: '2',
        TCC_RETRY_INITIAL_MS: '50',
        // Backoff grows to seconds (unlike the helper's 200 ms cap), so a test can
        // tell an operator's retry from the coordinator's own.
        TCC_RETRY_MAX_MS: '10000',
      });
      client = createCoordinatorClient(coordinator.address);
      admin = createAdminClient(coordinator.address, TOKEN);
      env = { TCC_ADDR: coordinator.address, TCC_ADMIN_TOKEN: TOKEN, TCC_OPERATOR: OPERATOR };
    });

    afterEach(() => participant?.resetBehaviors());

    after(async () => {
      client?.close();
      admin?.close();
      await coordinator?.shutdown();
      await participant?.stop();
    });

    const cli = (...args: string[]) => runCli(args, env);

    async function confirmed(branchIds = ['a', 'b']): Promise<Transaction__Output> {
      const t = await client.execute({ branches: branchIds.map((id) => ({ branch_id: id, participant: target, action: `act-${id}` })), wait: true });
      expect(t.status).to.equal('CONFIRMED');
      return t;
    }

    /** CONFIRMING, branch `broken` failing Confirm (action `action`) until flagged stuck; branch `fine` confirmed. */
    async function stuck(action: string): Promise<Transaction__Output> {
      participant!.setBehavior('confirm', 'unavailable', { action });
      const txn = await client.execute({
        branches: [
          { branch_id: 'fine', participant: target, action: 'fine' },
          { branch_id: 'broken', participant: target, action },
        ],
      });
      return pollUntil(() => admin.get(txn.gid), (x) => x.stuck, `${txn.gid} stuck`, 10_000);
    }

    /**
     * Waits until the coordinator's next retry of branch `broken` is more than
     * `aheadMs` away, so that whatever confirms it sooner is the operator's
     * doing; answers that scheduled time.
     */
    async function longBackoff(gid: string, aheadMs: number): Promise<number> {
      const nextRetry = (x: Transaction__Output) => Number(x.branches.find((b) => b.branch_id === 'broken')!.next_retry_unix_ms);
      const t = await pollUntil(() => admin.get(gid), (x) => nextRetry(x) - Date.now() > aheadMs, `${gid}: a retry scheduled more than ${aheadMs} ms ahead`, 15_000);
      return nextRetry(t);
    }

    async function trying(): Promise<string> {
      const { gid } = await client.begin({});
      await client.try({ gid, branch: { branch_id: 'held', participant: target, action: 'reserve' } });
      return gid;
    }

    it('list prints a table of transactions (gid, status, stuck, attempts, age, next retry, last error) and pages', async () => {
      const ok = [await confirmed(), await confirmed(), await confirmed()];
      const bad = await stuck('list-broken');

      const r = await cli('list');
      expect(r.code, describeRun(['list'], r)).to.equal(0);
      expect(r.stderr).to.equal('');
      expect(r.stdout.split('\n')[0]).to.match(/^GID\s+STATUS\s+STUCK\s+ATTEMPTS\s+AGE\s+NEXT RETRY\s+LAST ERROR$/);
      for (const t of ok) expect(lineWith(r.stdout, t.gid)).to.match(new RegExp(`^${t.gid}\\s+CONFIRMED\\s+no\\s+1\\s+\\S+\\s+-\\s+-$`));
      expect(lineWith(r.stdout, bad.gid)).to.match(new RegExp(`^${bad.gid}\\s+CONFIRMING\\s+yes\\s+\\d+\\s+\\S+\\s+(in \\S+|due)\\s+UNAVAILABLE: participant unreachable`));

      const stuckOnly = await cli('list', '--stuck');
      expect(stuckOnly.code).to.equal(0);
      expect(stuckOnly.stdout).to.include(bad.gid);
      for (const t of ok) expect(stuckOnly.stdout).to.not.include(t.gid);

      // One page of two, with the way to the next; --all follows every page.
      const page = await cli('list', '--status', 'confirmed', '--limit', '2');
      expect(page.code).to.equal(0);
      expect(page.stdout).to.include('2 transactions');
      expect(page.stdout).to.match(/more: add --page-token \S+ for the next page, or --all for every page/);
      const all = await cli('list', '--status', 'CONFIRMED', '--limit', '2', '--all');
      expect(all.code).to.equal(0);
      for (const t of ok) expect(all.stdout).to.include(t.gid);
      expect(all.stdout).to.not.include(bad.gid);
      expect(all.stdout).to.not.include('more:');
      const token = /--page-token (\S+)/.exec(page.stdout)![1];
      const next = await cli('list', '--status', 'CONFIRMED', '--limit', '2', '--page-token', token);
      expect(next.code).to.equal(0);
      const firstPage = page.stdout.split('\n').filter((l) => /CONFIRMED/.test(l)).map((l) => l.split(/\s+/)[0]);
      for (const gid of firstPage) expect(next.stdout, 'no gid on two pages').to.not.include(gid);

      const none = await cli('list', '--older-than', '1h');
      expect(none.code).to.equal(0);
      expect(none.stdout).to.equal('no transactions match\n');
      const elsewhere = await cli('list', '--participant', '127.0.0.1:9');
      expect(elsewhere.stdout).to.equal('no transactions match\n');
      const here = await cli('list', '--participant', target, '--stuck');
      expect(here.stdout).to.include(bad.gid);
      await admin.resolve({ gid: bad.gid, branch_id: 'broken', reason: 'test cleanup', operator: 'alice' });
    });

    it('list --json prints only JSON: every page with --all, int64 fields as numbers', async () => {
      const mine = [await confirmed(), await confirmed()];
      const args = ['list', '--json', '--status', 'CONFIRMED', '--limit', '1', '--all'];
      const r = await runCli(args, env);
      expect(r.code, describeRun(args, r)).to.equal(0);
      expect(r.stderr).to.equal('');
      const out = JSON.parse(r.stdout) as { transactions: Array<Record<string, unknown>>; next_page_token: string };
      expect(out.next_page_token).to.equal('');
      const gids = out.transactions.map((t) => t.gid);
      for (const t of mine) expect(gids).to.include(t.gid);
      for (const t of out.transactions) {
        expect(t.status).to.equal('CONFIRMED');
        for (const field of ['created_unix_ms', 'updated_unix_ms', 'deadline_unix_ms', 'decided_unix_ms', 'next_retry_unix_ms', 'attempts']) {
          expect(t[field], `${String(t.gid)}.${field}`).to.be.a('number');
        }
        expect(t.created_unix_ms).to.be.greaterThan(1_600_000_000_000);
        expect(t.stuck).to.equal(false);
        expect(t, 'list items carry no branches').to.not.have.property('branches');
      }
      const page = JSON.parse((await cli('list', '--json', '--limit', '1')).stdout) as { transactions: unknown[]; next_page_token: string };
      expect(page.transactions).to.have.length(1);
      expect(page.next_page_token).to.be.a('string').and.not.equal('');
    });

    it('show prints the transaction, its branches and a timeline of tries, decision and confirms', async () => {
      const t = await confirmed(['a', 'b']);
      const r = await cli('show', t.gid);
      expect(r.code, describeRun(['show', t.gid], r)).to.equal(0);
      expect(r.stderr).to.equal('');
      const out = r.stdout;
      expect(out.split('\n')[0]).to.equal(`TRANSACTION ${t.gid}`);
      expect(out).to.match(/^ {2}status {6}CONFIRMED$/m);
      expect(out).to.match(/^ {2}decided {5}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m);
      for (const id of ['a', 'b']) {
        expect(lineWith(out, `act-${id}`)).to.match(new RegExp(`^  ${id}\\s+${target.replace(/\./g, '\\.')}\\s+act-${id}\\s+SUCCEEDED\\s+DONE\\s+1\\s+-\\s+-$`));
      }
      const timeline = out.slice(out.indexOf('\nTIMELINE\n') + '\nTIMELINE\n'.length).trimEnd().split('\n');
      expect(timeline[0]).to.match(/T\+\s+TIME\s+PHASE\s+BRANCH\s+ATTEMPT\s+OUTCOME\s+CODE\s+DURATION\s+NODE\s+DETAIL/);
      const entries = timeline.slice(1);
      expect(entries, 'one line per log row: 2 tries, the decision, 2 confirms').to.have.length(5);
      const iso = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
      expect(entries[0]).to.match(new RegExp(`^\\s+\\+0ms\\s+${iso}\\s+try\\s`));
      for (const id of ['a', 'b']) {
        expect(entries.some((l) => new RegExp(`\\+\\S+\\s+${iso}\\s+try\\s+${id}\\s+#1\\s+ok\\s+OK\\s+\\d+ms\\s+${NODE}$`).test(l)), `try ${id}`).to.equal(true);
        expect(entries.some((l) => new RegExp(`\\+\\S+\\s+${iso}\\s+confirm\\s+${id}\\s+#1\\s+ok\\s+OK\\s+\\d+ms\\s+${NODE}$`).test(l)), `confirm ${id}`).to.equal(true);
      }
      const decision = entries.findIndex((l) => /\sdecision\s+-\s+-\s+commit\s+-\s+-\s+/.test(l));
      expect(decision, 'the commit decision line').to.equal(2);
      expect(entries.slice(0, 2).every((l) => /\stry\s/.test(l)), 'tries first').to.equal(true);
      expect(entries.slice(3).every((l) => /\sconfirm\s/.test(l)), 'confirms last').to.equal(true);

      const json = await cli('show', t.gid, '--json');
      expect(json.code).to.equal(0);
      const parsed = JSON.parse(json.stdout) as { gid: string; branches: Array<Record<string, unknown>>; logs: Array<Record<string, unknown>> };
      expect(parsed.gid).to.equal(t.gid);
      expect(parsed.branches.map((b) => b.phase_two)).to.deep.equal(['PHASE_TWO_DONE', 'PHASE_TWO_DONE']);
      expect(parsed.logs).to.have.length(5);
      for (const l of parsed.logs) {
        for (const field of ['id', 'started_unix_ms', 'duration_ms', 'grpc_code', 'attempt']) expect(l[field], field).to.be.a('number');
        expect(l.node).to.equal(NODE);
      }
    });

    it('show of a stuck transaction shows the failing Confirms with their gRPC code and error', async () => {
      const t = await stuck('show-broken');
      const r = await cli('show', t.gid);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/^ {2}status {6}CONFIRMING {2}\(STUCK: phase two keeps failing\)$/m);
      expect(lineWith(r.stdout, '  broken  ')).to.match(/SUCCEEDED\s+PENDING\s+\d+\s+(in \S+|due)\s+UNAVAILABLE: participant unreachable$/);
      expect(r.stdout).to.match(/\sconfirm\s+broken\s+#1\s+failed\s+UNAVAILABLE\s+\d+ms\s+tccctl-test-node\s+error: UNAVAILABLE: participant unreachable$/m);
      expect(r.stdout).to.match(/\sconfirm\s+broken\s+#2\s+failed\s+UNAVAILABLE\s/m);
      await admin.resolve({ gid: t.gid, branch_id: 'broken', reason: 'test cleanup', operator: 'alice' });
    });

    it('retry GID runs the pending Confirm now, before its scheduled retry', async () => {
      const t = await stuck('retry-broken');
      const scheduled = await longBackoff(t.gid, 1_500);
      participant!.resetBehaviors();
      const r = await cli('retry', t.gid);
      expect(r.code, describeRun(['retry', t.gid], r)).to.equal(0);
      expect(r.stdout).to.equal(`retried ${t.gid}: CONFIRMED\n`);
      const after = await admin.get(t.gid);
      expect(after.status).to.equal('CONFIRMED');
      const lastConfirm = after.logs.filter((l) => l.phase === 'confirm' && l.branch_id === 'broken').pop()!;
      expect(lastConfirm.outcome).to.equal('ok');
      expect(Number(lastConfirm.started_unix_ms), 'confirmed by the operator retry, ahead of the schedule').to.be.lessThan(scheduled);

      const json = await cli('retry', t.gid, '--json');
      expect(json.code).to.equal(0);
      expect((JSON.parse(json.stdout) as { status: string }).status).to.equal('CONFIRMED');
    });

    it('retry --stuck retries every stuck transaction and prints a summary; exit 0 when every call succeeded', async () => {
      const one = await stuck('sweep-broken');
      const two = await stuck('sweep-broken');
      const stillBroken = await stuck('sweep-still-broken');
      await Promise.all([one, two].map((t) => longBackoff(t.gid, 1_500)));
      participant!.setBehavior('confirm', 'ok', { action: 'sweep-broken' });
      const r = await cli('retry', '--stuck');
      expect(r.code, describeRun(['retry', '--stuck'], r)).to.equal(0);
      for (const t of [one, two]) expect(lineWith(r.stdout, t.gid)).to.equal(`retried ${t.gid}: CONFIRMED`);
      expect(lineWith(r.stdout, stillBroken.gid)).to.match(
        new RegExp(`^retried ${stillBroken.gid}: CONFIRMING; stuck; 1 branch pending \\(broken\\); next retry (in \\S+|due); last error: UNAVAILABLE`),
      );
      const summary = /(\d+) stuck transactions? retried: (\d+) finished, (\d+) still pending, 0 failed$/m.exec(r.stdout);
      expect(summary, r.stdout).to.not.equal(null);
      expect(Number(summary![2])).to.be.at.least(2);
      expect(Number(summary![3])).to.be.at.least(1);
      expect(r.stderr).to.equal('');
      for (const t of [one, two]) expect((await admin.get(t.gid)).status).to.equal('CONFIRMED');

      const json = await cli('retry', '--stuck', '--json');
      expect(json.code).to.equal(0);
      const out = JSON.parse(json.stdout) as { retried: Array<{ gid: string; ok: boolean; status: string }>; failed: number };
      expect(out.failed).to.equal(0);
      expect(out.retried.find((x) => x.gid === stillBroken.gid)).to.include({ ok: true, status: 'CONFIRMING' });
      expect(out.retried.map((x) => x.gid)).to.not.include(one.gid);

      await admin.resolve({ gid: stillBroken.gid, branch_id: 'broken', reason: 'test cleanup', operator: 'alice' });
      const none = await cli('retry', '--stuck');
      expect(none.code).to.equal(0);
      expect(none.stdout).to.equal('no stuck transactions\n');
    });

    it('abort rolls back a TRYING transaction with the operator and reason; exits 5 on a committed one, 3 on an unknown gid', async () => {
      const gid = await trying();
      const r = await cli('abort', gid, '--reason', 'maintenance window');
      expect(r.code, describeRun(['abort', gid], r)).to.equal(0);
      expect(r.stdout).to.match(new RegExp(`^aborted ${gid}: (CANCELLING|CANCELLED);.*reason: aborted by operator ${OPERATOR}: maintenance window\\n$`));
      const done = await pollUntil(() => admin.get(gid), (x) => x.status === 'CANCELLED', 'CANCELLED');
      const decision = done.logs.find((l) => l.phase === 'decision')!;
      expect(decision).to.include({ outcome: 'rollback', operator: OPERATOR });
      expect(decision.error).to.include('maintenance window');
      expect(participant!.callsFor('cancel', gid).map((c) => c.branch_id)).to.deep.equal(['held']);

      // --operator wins over TCC_OPERATOR; no --reason is fine.
      const other = await trying();
      const j = await cli('abort', other, '--operator', 'carol', '--json');
      expect(j.code).to.equal(0);
      const answered = JSON.parse(j.stdout) as { status: string; reason: string };
      expect(answered.status).to.be.oneOf(['CANCELLING', 'CANCELLED']);
      expect(answered.reason).to.equal('aborted by operator carol');
      expect((await admin.get(other)).logs.find((l) => l.phase === 'decision')!.operator).to.equal('carol');

      const committed = await confirmed();
      const args = ['abort', committed.gid, '--reason', 'too late'];
      expectFailure(args, await runCli(args, env), 5, new RegExp(`Abort: FAILED_PRECONDITION: transaction ${committed.gid} is already committed`));
      expect((await admin.get(committed.gid)).status).to.equal('CONFIRMED');
      expectFailure(['abort', 'no-such-gid'], await cli('abort', 'no-such-gid'), 3, /Abort: NOT_FOUND: transaction no-such-gid not found/);
    });

    it('resolve marks a stuck branch RESOLVED with the operator and reason, shown in the timeline; exits 5 while TRYING, 3 for an unknown branch', async () => {
      const t = await stuck('resolve-broken');
      const r = await cli('resolve', t.gid, 'broken', '--reason', 'credited by hand, ticket OPS-7');
      expect(r.code, describeRun(['resolve', t.gid, 'broken'], r)).to.equal(0);
      expect(r.stdout).to.equal(`resolved branch broken (now RESOLVED) as ${OPERATOR}; ${t.gid}: CONFIRMED\n`);
      const after = await admin.get(t.gid);
      expect(after.status).to.equal('CONFIRMED');
      expect(after.stuck).to.equal(false);
      expect(after.logs.find((l) => l.phase === 'resolve')).to.include({ branch_id: 'broken', operator: OPERATOR, error: 'credited by hand, ticket OPS-7' });

      const shown = await cli('show', t.gid);
      expect(lineWith(shown.stdout, '  broken  ')).to.match(/SUCCEEDED\s+RESOLVED\s/);
      expect(shown.stdout).to.match(
        new RegExp(`\\sresolve\\s+broken\\s+-\\s+resolved\\s+-\\s+-\\s+${NODE}\\s+operator: ${OPERATOR}\\s+reason: credited by hand, ticket OPS-7$`, 'm'),
      );

      const again = await cli('resolve', t.gid, 'broken', '--reason', 'again', '--json');
      expect(again.code, 'a resolved branch is answered as it is').to.equal(0);
      expect((JSON.parse(again.stdout) as { status: string }).status).to.equal('CONFIRMED');

      const gid = await trying();
      expectFailure(['resolve', gid, 'held'], await cli('resolve', gid, 'held', '--reason', 'too early'), 5, /ResolveBranch: FAILED_PRECONDITION: .*TRYING/);
      expectFailure(['resolve', t.gid, 'nope'], await cli('resolve', t.gid, 'nope', '--reason', 'x'), 3, /ResolveBranch: NOT_FOUND: transaction \S+ has no branch nope/);
      await admin.abort({ gid, operator: 'alice' });
    });

    it('exits 4 with a clear message for a missing or wrong token, 3 for an unknown gid, 7 for a malformed one', async () => {
      const t = await confirmed();
      const noToken = { TCC_ADDR: env.TCC_ADDR };
      for (const args of [['list'], ['show', t.gid], ['retry', t.gid], ['abort', t.gid], ['resolve', t.gid, 'a', '--reason', 'x']]) {
        expectFailure(args, await runCli(args, noToken), 4, /needs an admin token \(UNAUTHENTICATED\); set TCC_ADMIN_TOKEN or pass --token/);
      }
      const wrong = { ...env, TCC_ADMIN_TOKEN: 'wrong-token-0123456789' };
      expectFailure(['list'], await runCli(['list'], wrong), 4, /refused the admin token \(UNAUTHENTICATED\)/);
      // --token wins over the environment, both ways.
      expectFailure(['list', '--token', 'wrong-again'], await runCli(['list', '--token', 'wrong-again'], env), 4, /refused the admin token/);
      expect((await runCli(['list', '--token', TOKEN], wrong)).code).to.equal(0);

      for (const args of [['show', 'no-such-gid'], ['retry', 'no-such-gid'], ['show', 'no-such-gid', '--json']]) {
        expectFailure(args, await runCli(args, env), 3, /NOT_FOUND: transaction no-such-gid not found/);
      }
      expectFailure(['show', 'bad gid!'], await cli('show', 'bad gid!'), 7, /GetTransaction: INVALID_ARGUMENT: gid: may only contain/);
    });
  });
});
