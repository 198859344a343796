/**
 * The example participants (participants/account on SQL, participants/inventory
 * on Redis) as real gRPC servers, started in-process through the same
 * start functions their main.ts uses, behind a real coordinator, on both
 * backends: SQLite (coordinator and accounts in temp files) and MariaDB (the
 * coordinator's fresh database, and a second fresh database of the account
 * service's own). Redis: the local server, with a unique key prefix per
 * suite, deleted afterwards.
 *
 * Covered: each action's three phases end to end; refusals (insufficient
 * funds, out of stock, unknown ids, bad payloads) rolling everything back;
 * duplicate and late phase calls sent straight to the participants; and
 * conservation under concurrent transactions committed or rolled back at
 * random.
 */
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import Redis from 'ioredis';
import * as mysql from 'mysql2/promise';
import {
  BranchRefusedError,
  TccClient,
  TransactionRolledBackError,
  type TransactionInfo,
} from '../src/client';
import type { RunningCoordinator } from '../src/coordinator';
import type { BranchRequest } from '../src/generated/tcc/v1/BranchRequest';
import type { ParticipantClient } from '../src/generated/tcc/v1/Participant';
import { loadTccProto } from '../src/protocol/tcc-proto';
import { createLogger } from '../src/log/logger';
import { loadAccountConfig } from '../participants/account/account-config';
import { startAccountService, type RunningAccountService } from '../participants/account/account-service';
import { BarrierPruner } from '../participants/account/barrier-pruner';
import { loadInventoryConfig } from '../participants/inventory/inventory-config';
import { startInventoryService, type RunningInventoryService } from '../participants/inventory/inventory-service';
import type { StockLevels } from '../participants/inventory/inventory-store';
import {
  codeName,
  forEachBackend,
  MARIADB_HOST,
  MARIADB_PORT,
  MARIADB_USER,
  pollUntil,
  sleep,
  startTestCoordinator,
  type Backend,
} from './helpers/backends';
import { REDIS_URL, requireRedis } from './helpers/redis';

type Phase = 'try' | 'confirm' | 'cancel';

interface Balance {
  balance: number;
  frozen: number;
}

/** The account service's own database: next to the coordinator's SQLite file, or a fresh MariaDB database. */
async function accountDatabase(backend: Backend): Promise<{ url: string; drop(): Promise<void> }> {
  if (backend.name === 'sqlite') {
    const file = path.join(path.dirname(backend.url.slice('sqlite:'.length)), 'account.sqlite');
    return { url: `sqlite:${file}`, drop: async () => undefined }; // the suite's temp folder goes with it
  }
  const database = `tcc_acct_${Date.now().toString(36)}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = () => mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: MARIADB_USER, connectTimeout: 5_000 });
  const conn = await admin();
  try {
    await conn.query(`CREATE DATABASE \`${database}\``);
  } finally {
    await conn.end();
  }
  return {
    url: `mysql://${MARIADB_USER}@${MARIADB_HOST}:${MARIADB_PORT}/${database}`,
    async drop() {
      const c = await admin();
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${database}\``);
      } finally {
        await c.end();
      }
    },
  };
}

/** A small seeded PRNG (mulberry32): a failing conservation run can be replayed with its seed. */
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

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The gRPC status of a direct participant call: 'OK' or the code's name. */
function callParticipant(client: ParticipantClient, phase: Phase, req: BranchRequest): Promise<string> {
  const method = { try: 'Try', confirm: 'Confirm', cancel: 'Cancel' } as const;
  return new Promise((resolve) => {
    client[method[phase]](req, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err) => resolve(err ? codeName(err.code) : 'OK'));
  });
}

const isFinished = (t: TransactionInfo) => t.status === 'CONFIRMED' || t.status === 'CANCELLED';

forEachBackend((backend) => {
  describe('example participants (account on SQL, inventory on Redis) behind a real coordinator', function () {
    this.timeout(60_000);
    const prefix = `tcc-example-test:${crypto.randomBytes(4).toString('hex')}:`;
    let accountDb: { url: string; drop(): Promise<void> } | undefined;
    let coordinator: RunningCoordinator | undefined;
    let account: RunningAccountService | undefined;
    let inventory: RunningInventoryService | undefined;
    let tcc: TccClient;
    let accountClient: ParticipantClient;
    let inventoryClient: ParticipantClient;
    let n = 0;
    /** Ids unique to this suite and test: tests share the services but never their accounts or SKUs. */
    const unique = (what: string) => `${what}-${backend.name}-${++n}`;

    before(async function () {
      this.timeout(60_000);
      await requireRedis(this);
      accountDb = await accountDatabase(backend);
      // Branch calls get 5 s: the conservation test loads 2 shared cores, and an unknown Try would only add rollbacks.
      coordinator = await startTestCoordinator(backend, { TCC_BRANCH_TIMEOUT_MS: '5000' });
      account = await startAccountService(
        loadAccountConfig({ ACCOUNT_ADDR: '127.0.0.1:0', ACCOUNT_DB_URL: accountDb.url, ACCOUNT_LOG_LEVEL: 'silent' }),
      );
      inventory = await startInventoryService(
        loadInventoryConfig({
          INVENTORY_ADDR: '127.0.0.1:0',
          INVENTORY_REDIS_URL: REDIS_URL,
          INVENTORY_KEY_PREFIX: prefix,
          INVENTORY_LOG_LEVEL: 'silent',
        }),
      );
      tcc = new TccClient(coordinator.address, { callTimeoutMs: 15_000 });
      const Participant = loadTccProto().grpcObject.tcc.v1.Participant;
      accountClient = new Participant(account.address, grpc.credentials.createInsecure());
      inventoryClient = new Participant(inventory.address, grpc.credentials.createInsecure());
    });

    after(async function () {
      this.timeout(60_000);
      tcc?.close();
      accountClient?.close();
      inventoryClient?.close();
      await inventory?.shutdown();
      await account?.shutdown();
      await coordinator?.shutdown();
      if (inventory) {
        const redis = new Redis(REDIS_URL);
        try {
          const keys = await redis.keys(`${prefix}*`); // a test-only prefix on a test Redis
          if (keys.length > 0) await redis.del(...keys);
        } finally {
          redis.disconnect();
        }
      }
      await accountDb?.drop();
    });

    // ------------------------------------------------------------------ helpers

    const acct = () => account!;
    const inv = () => inventory!;

    async function seedAccounts(balances: Record<string, number>): Promise<void> {
      await acct().store.seed(new Map(Object.entries(balances)));
    }

    async function seedStock(stock: Record<string, number>): Promise<void> {
      await inv().store.seed(new Map(Object.entries(stock)));
    }

    async function balances(ids: readonly string[]): Promise<Record<string, Balance>> {
      const rows = await acct().store.list();
      const out: Record<string, Balance> = {};
      for (const id of ids) {
        const row = rows.find((r) => r.id === id);
        if (!row) throw new Error(`no account ${id}`);
        out[id] = { balance: row.balance, frozen: row.frozen };
      }
      return out;
    }

    async function stock(sku: string): Promise<StockLevels> {
      const levels = await inv().store.stock(sku);
      if (!levels) throw new Error(`no sku ${sku}`);
      return levels;
    }

    function waitFinished(gid: string, timeoutMs = 15_000): Promise<TransactionInfo> {
      return pollUntil(() => tcc.get(gid), isFinished, `transaction ${gid} to finish phase two`, timeoutMs);
    }

    async function rejection(p: Promise<unknown>): Promise<unknown> {
      try {
        await p;
      } catch (err) {
        return err;
      }
      throw new Error('expected a rejection');
    }

    // ------------------------------------------------------------------ tests

    it('serves grpc.health.v1: the health probe of the Docker healthcheck answers SERVING for both services', async () => {
      const probe = path.resolve(__dirname, '..', 'src', 'cli', 'health-probe.js');
      for (const address of [acct().address, inv().address]) {
        const { stdout } = await promisify(execFile)(process.execPath, [probe, address], { timeout: 10_000 });
        expect(stdout.trim()).to.equal('SERVING');
      }
    });

    it('debit, credit and reserve: Try freezes and reserves, Confirm settles', async () => {
      const [buyer, shop, sku] = [unique('buyer'), unique('shop'), unique('sku')];
      await seedAccounts({ [buyer]: 10_000, [shop]: 500 });
      await seedStock({ [sku]: 5 });

      const { gid } = await tcc.begin({ timeoutMs: 30_000 });
      await tcc.try(gid, { participant: acct().address, action: 'debit', payload: { account: buyer, amount: 3_000 } });
      await tcc.try(gid, { participant: acct().address, action: 'credit', payload: { account: shop, amount: 3_000 } });
      await tcc.try(gid, { participant: inv().address, action: 'reserve', payload: { sku, qty: 2 } });
      // After the Tries: the money is frozen (not gone), the credit is not there yet, the units are reserved.
      expect(await balances([buyer, shop])).to.deep.equal({ [buyer]: { balance: 10_000, frozen: 3_000 }, [shop]: { balance: 500, frozen: 0 } });
      expect(await stock(sku)).to.deep.equal({ available: 3, reserved: 2, sold: 0 });

      await tcc.commit(gid);
      const done = await waitFinished(gid);
      expect(done.status).to.equal('CONFIRMED');
      expect(await balances([buyer, shop])).to.deep.equal({ [buyer]: { balance: 7_000, frozen: 0 }, [shop]: { balance: 3_500, frozen: 0 } });
      expect(await stock(sku)).to.deep.equal({ available: 3, reserved: 0, sold: 2 });
    });

    it('a Rollback after successful Tries: Cancel unfreezes the debit, returns the stock, and the credit never shows', async () => {
      const [buyer, shop, sku] = [unique('buyer'), unique('shop'), unique('sku')];
      await seedAccounts({ [buyer]: 1_000, [shop]: 0 });
      await seedStock({ [sku]: 1 });

      const err = await rejection(
        tcc.transaction({ timeoutMs: 30_000 }, async (tx) => {
          await tx.try(acct().address, 'debit', { account: buyer, amount: 1_000 });
          await tx.try(acct().address, 'credit', { account: shop, amount: 1_000 });
          await tx.try(inv().address, 'reserve', { sku, qty: 1 });
          expect(await balances([buyer])).to.deep.equal({ [buyer]: { balance: 1_000, frozen: 1_000 } });
          expect(await stock(sku)).to.deep.equal({ available: 0, reserved: 1, sold: 0 });
          throw new Error('the customer changed their mind');
        }),
      );
      expect(err).to.be.instanceOf(TransactionRolledBackError);
      const done = await waitFinished((err as TransactionRolledBackError).gid!);
      expect(done.status).to.equal('CANCELLED');
      expect(done.branches.map((b) => b.phaseTwo)).to.deep.equal(['PHASE_TWO_DONE', 'PHASE_TWO_DONE', 'PHASE_TWO_DONE']);
      expect(await balances([buyer, shop])).to.deep.equal({ [buyer]: { balance: 1_000, frozen: 0 }, [shop]: { balance: 0, frozen: 0 } });
      expect(await stock(sku)).to.deep.equal({ available: 1, reserved: 0, sold: 0 });
    });

    it('insufficient funds: the debit is refused, the transaction rolls back, nothing stays frozen or reserved', async () => {
      const [buyer, shop, sku] = [unique('buyer'), unique('shop'), unique('sku')];
      await seedAccounts({ [buyer]: 999, [shop]: 0 });
      await seedStock({ [sku]: 4 });

      const err = await rejection(
        tcc.transaction({ timeoutMs: 30_000 }, async (tx) => {
          await tx.try(inv().address, 'reserve', { sku, qty: 3 }); // succeeds first: it must be cancelled
          await tx.try(acct().address, 'credit', { account: shop, amount: 1_000 });
          await tx.try(acct().address, 'debit', { account: buyer, amount: 1_000 });
        }),
      );
      expect(err).to.be.instanceOf(TransactionRolledBackError);
      const refusal = (err as TransactionRolledBackError).cause;
      expect(refusal).to.be.instanceOf(BranchRefusedError);
      expect((refusal as BranchRefusedError).reason).to.contain('insufficient funds');
      const done = await waitFinished((err as TransactionRolledBackError).gid!);
      expect(done.status).to.equal('CANCELLED');
      expect(done.branches.map((b) => [b.action, b.tryOutcome, b.phaseTwo])).to.deep.equal([
        ['reserve', 'TRY_SUCCEEDED', 'PHASE_TWO_DONE'],
        ['credit', 'TRY_SUCCEEDED', 'PHASE_TWO_DONE'],
        ['debit', 'TRY_REFUSED', 'PHASE_TWO_SKIPPED'],
      ]);
      expect(await balances([buyer, shop])).to.deep.equal({ [buyer]: { balance: 999, frozen: 0 }, [shop]: { balance: 0, frozen: 0 } });
      expect(await stock(sku)).to.deep.equal({ available: 4, reserved: 0, sold: 0 });
    });

    it('out of stock: the reserve is refused, the transaction rolls back, the frozen debit is released', async () => {
      const [buyer, shop, sku] = [unique('buyer'), unique('shop'), unique('sku')];
      await seedAccounts({ [buyer]: 5_000, [shop]: 0 });
      await seedStock({ [sku]: 2 });

      const err = await rejection(
        tcc.transaction({ timeoutMs: 30_000 }, async (tx) => {
          await tx.try(acct().address, 'debit', { account: buyer, amount: 3_000 });
          await tx.try(acct().address, 'credit', { account: shop, amount: 3_000 });
          await tx.try(inv().address, 'reserve', { sku, qty: 3 });
        }),
      );
      expect(err).to.be.instanceOf(TransactionRolledBackError);
      expect(((err as TransactionRolledBackError).cause as BranchRefusedError).reason).to.contain('out of stock');
      const done = await waitFinished((err as TransactionRolledBackError).gid!);
      expect(done.status).to.equal('CANCELLED');
      expect(await balances([buyer, shop])).to.deep.equal({ [buyer]: { balance: 5_000, frozen: 0 }, [shop]: { balance: 0, frozen: 0 } });
      expect(await stock(sku)).to.deep.equal({ available: 2, reserved: 0, sold: 0 });
    });

    it('unknown accounts and SKUs, and malformed payloads, are refused at Try and leave nothing behind', async () => {
      const [known, sku] = [unique('known'), unique('sku')];
      await seedAccounts({ [known]: 100 });
      await seedStock({ [sku]: 1 });
      const cases: { participant: string; action: string; payload: object | string; reason: string }[] = [
        { participant: acct().address, action: 'debit', payload: { account: unique('ghost'), amount: 1 }, reason: 'unknown account' },
        { participant: acct().address, action: 'credit', payload: { account: unique('ghost'), amount: 1 }, reason: 'unknown account' },
        { participant: inv().address, action: 'reserve', payload: { sku: unique('ghost-sku'), qty: 1 }, reason: 'unknown sku' },
        { participant: acct().address, action: 'debit', payload: { account: known, amount: -5 }, reason: 'amount' },
        { participant: acct().address, action: 'debit', payload: { account: known, amount: 1.5 }, reason: 'amount' },
        { participant: acct().address, action: 'credit', payload: { account: known, amount: '10' }, reason: 'amount' },
        { participant: acct().address, action: 'debit', payload: { account: known, amount: 1, currency: 'EUR' }, reason: 'currency' },
        { participant: acct().address, action: 'debit', payload: 'not json', reason: 'not valid JSON' },
        { participant: acct().address, action: 'debit', payload: [known, 1], reason: 'JSON object' },
        { participant: inv().address, action: 'reserve', payload: { sku, qty: 0 }, reason: 'qty' },
        { participant: inv().address, action: 'reserve', payload: { sku: 'has space', qty: 1 }, reason: 'sku' },
        { participant: acct().address, action: 'transfer', payload: { account: known, amount: 1 }, reason: 'no handlers' },
      ];
      for (const c of cases) {
        const { gid } = await tcc.begin({ timeoutMs: 30_000 });
        const err = await rejection(tcc.try(gid, { participant: c.participant, action: c.action, payload: c.payload }));
        expect(err, `${c.action} ${JSON.stringify(c.payload)}`).to.be.instanceOf(BranchRefusedError);
        expect((err as BranchRefusedError).reason, `${c.action} ${JSON.stringify(c.payload)}`).to.contain(c.reason);
        await tcc.rollback(gid);
        expect((await waitFinished(gid)).status).to.equal('CANCELLED');
      }
      expect(await balances([known])).to.deep.equal({ [known]: { balance: 100, frozen: 0 } });
      expect(await stock(sku)).to.deep.equal({ available: 1, reserved: 0, sold: 0 });
    });

    it('duplicate and late phase calls sent straight to the participants change nothing', async () => {
      const [buyer, shop, sku] = [unique('buyer'), unique('shop'), unique('sku')];
      await seedAccounts({ [buyer]: 2_000, [shop]: 0 });
      await seedStock({ [sku]: 3 });
      const branches = [
        { client: accountClient, participant: acct().address, action: 'debit', payload: { account: buyer, amount: 700 } },
        { client: accountClient, participant: acct().address, action: 'credit', payload: { account: shop, amount: 700 } },
        { client: inventoryClient, participant: inv().address, action: 'reserve', payload: { sku, qty: 1 } },
      ];
      const request = (gid: string, i: number): BranchRequest => ({
        gid,
        branch_id: `b${i}`,
        action: branches[i].action,
        payload: Buffer.from(JSON.stringify(branches[i].payload)),
      });
      const state = async () => ({ accounts: await balances([buyer, shop]), stock: await stock(sku) });
      const replay = async (gid: string, phase: Phase) => Promise.all(branches.map((b, i) => callParticipant(b.client, phase, request(gid, i))));

      // One committed and one rolled-back transaction, with known branch ids.
      const run = async (commit: boolean) => {
        const { gid } = await tcc.begin({ timeoutMs: 30_000 });
        for (const [i, b] of branches.entries()) {
          await tcc.try(gid, { participant: b.participant, action: b.action, payload: b.payload, branchId: `b${i}` });
        }
        await (commit ? tcc.commit(gid) : tcc.rollback(gid));
        expect((await waitFinished(gid)).status).to.equal(commit ? 'CONFIRMED' : 'CANCELLED');
        return gid;
      };
      const committed = await run(true);
      const cancelled = await run(false);
      const settled = await state();
      expect(settled).to.deep.equal({
        accounts: { [buyer]: { balance: 1_300, frozen: 0 }, [shop]: { balance: 700, frozen: 0 } },
        stock: { available: 2, reserved: 0, sold: 1 },
      });

      // Confirmed branches: a second Confirm and a retried Try are duplicates (OK), a Cancel is a barrier violation.
      expect(await replay(committed, 'confirm')).to.deep.equal(['OK', 'OK', 'OK']);
      expect(await replay(committed, 'try')).to.deep.equal(['OK', 'OK', 'OK']);
      expect(await replay(committed, 'cancel')).to.deep.equal(['FAILED_PRECONDITION', 'FAILED_PRECONDITION', 'FAILED_PRECONDITION']);
      // Cancelled branches: a second Cancel is a duplicate, a late Try is refused (anti-suspension), a Confirm is a violation.
      expect(await replay(cancelled, 'cancel')).to.deep.equal(['OK', 'OK', 'OK']);
      expect(await replay(cancelled, 'try')).to.deep.equal(['ABORTED', 'ABORTED', 'ABORTED']);
      expect(await replay(cancelled, 'confirm')).to.deep.equal(['FAILED_PRECONDITION', 'FAILED_PRECONDITION', 'FAILED_PRECONDITION']);
      // A Cancel that overtakes its Try (empty rollback): OK, and the Try arriving afterwards is refused.
      const overtaken = `overtaken-${backend.name}-${crypto.randomBytes(4).toString('hex')}`;
      expect(await replay(overtaken, 'cancel')).to.deep.equal(['OK', 'OK', 'OK']);
      expect(await replay(overtaken, 'try')).to.deep.equal(['ABORTED', 'ABORTED', 'ABORTED']);
      expect(await replay(overtaken, 'cancel')).to.deep.equal(['OK', 'OK', 'OK']);

      expect(await state()).to.deep.equal(settled);
    });

    it('conservation: concurrent transfers committed or rolled back at random keep every total, and duplicates change nothing', async function () {
      this.timeout(180_000);
      const seed = Number(process.env.TCC_TEST_SEED ?? crypto.randomInt(2 ** 31));
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
      const why = `(seed ${seed}; rerun with TCC_TEST_SEED=${seed})`;

      const accountIds = Array.from({ length: 6 }, (_, i) => unique(`c-acct${i}`));
      const skus = Array.from({ length: 3 }, (_, i) => unique(`c-sku${i}`));
      // Room for several concurrent debits per account, and stock for every commit: most refusals are the forced ones below.
      const startBalances = Object.fromEntries(accountIds.map((id) => [id, 5_000 + Math.floor(random() * 15_000)]));
      const startStock = Object.fromEntries(skus.map((sku) => [sku, 40 + Math.floor(random() * 40)]));
      await seedAccounts(startBalances);
      await seedStock(startStock);

      interface Transfer {
        from: string;
        to: string;
        amount: number;
        sku: string;
        qty: number;
        wantCommit: boolean;
        gid?: string;
        branchIds?: string[];
        triesOk?: number;
        committed?: boolean;
      }
      const COUNT = 80;
      const transfers: Transfer[] = Array.from({ length: COUNT }, () => {
        const from = pick(accountIds);
        const to = pick(accountIds.filter((id) => id !== from));
        return {
          from,
          to,
          // About 1 in 7 asks for more than all the money there is; the rest may still find it frozen by others.
          amount: random() < 0.15 ? 1_000_000 : 1 + Math.floor(random() * 2_000),
          sku: pick(skus),
          qty: random() < 0.1 ? 1_000 : 1 + Math.floor(random() * 3), // 1 in 10: more than there is
          wantCommit: random() < 0.6,
        };
      });

      await inParallel(transfers, 10, async (t) => {
        const { gid } = await tcc.begin({ timeoutMs: 60_000 });
        t.gid = gid;
        // Tries in parallel: the most interleaving, within a transaction and across them.
        const tries = await Promise.allSettled([
          tcc.try(gid, { participant: acct().address, action: 'debit', payload: { account: t.from, amount: t.amount } }),
          tcc.try(gid, { participant: acct().address, action: 'credit', payload: { account: t.to, amount: t.amount } }),
          tcc.try(gid, { participant: inv().address, action: 'reserve', payload: { sku: t.sku, qty: t.qty } }),
        ]);
        t.triesOk = tries.filter((r) => r.status === 'fulfilled').length;
        // Only refusals are expected: with 5 s per branch call, an unknown outcome means a participant failed.
        for (const r of tries) {
          if (r.status === 'rejected' && !(r.reason instanceof BranchRefusedError)) throw r.reason;
        }
        // Commit or Rollback at random, whatever the Tries answered: a Commit after a refusal must roll back.
        if (t.wantCommit) {
          try {
            await tcc.commit(gid);
            t.committed = true;
          } catch (err) {
            if (!(err instanceof TransactionRolledBackError)) throw err;
            t.committed = false;
          }
        } else {
          await tcc.rollback(gid);
          t.committed = false;
        }
      });

      // Phase two done everywhere before looking at the books.
      const finals = await Promise.all(transfers.map((t) => waitFinished(t.gid!, 30_000)));
      for (const [i, t] of transfers.entries()) {
        expect(finals[i].status, `transfer ${i} ${why}`).to.equal(t.committed ? 'CONFIRMED' : 'CANCELLED');
        if (t.committed) expect(t.triesOk, `a committed transfer had every Try succeed ${why}`).to.equal(3);
        t.branchIds = finals[i].branches.map((b) => b.branchId);
      }
      const committed = transfers.filter((t) => t.committed);
      const rolledBackAfterTries = transfers.filter((t) => !t.committed && t.triesOk === 3);
      const refused = transfers.filter((t) => t.triesOk! < 3);
      // The run exercised every path (the mix is random, not its existence).
      expect(committed.length, `committed ${why}`).to.be.greaterThan(5);
      expect(rolledBackAfterTries.length, `rolled back after successful Tries ${why}`).to.be.greaterThan(5);
      expect(refused.length, `refused ${why}`).to.be.greaterThan(5);

      const expectedBalances = { ...startBalances };
      const expectedSold = Object.fromEntries(skus.map((sku) => [sku, 0]));
      for (const t of committed) {
        expectedBalances[t.from] -= t.amount;
        expectedBalances[t.to] += t.amount;
        expectedSold[t.sku] += t.qty;
      }
      const books = async () => ({
        accounts: await balances(accountIds),
        stock: Object.fromEntries(await Promise.all(skus.map(async (sku) => [sku, await stock(sku)] as const))),
      });
      const after = await books();
      const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
      expect(sum(Object.values(after.accounts).map((a) => a.balance)), `total money ${why}`).to.equal(sum(Object.values(startBalances)));
      for (const id of accountIds) {
        expect(after.accounts[id].balance, `${id} balance ${why}`).to.equal(expectedBalances[id]);
        expect(after.accounts[id].balance, `${id} never negative ${why}`).to.be.at.least(0);
        expect(after.accounts[id].frozen, `${id} frozen ${why}`).to.equal(0);
      }
      for (const sku of skus) {
        const s = after.stock[sku];
        expect(s.available, `${sku} never oversold ${why}`).to.be.at.least(0);
        expect(s.available + s.reserved + s.sold, `${sku} units ${why}`).to.equal(startStock[sku]);
        expect(s, `${sku} ${why}`).to.deep.equal({ available: startStock[sku] - expectedSold[sku], reserved: 0, sold: expectedSold[sku] });
      }

      // Duplicates of finished branches, straight to the participants: second Confirms and Cancels, late Tries after Cancels.
      const payloadOf = (t: Transfer, action: string) =>
        Buffer.from(
          JSON.stringify(
            action === 'debit'
              ? { account: t.from, amount: t.amount }
              : action === 'credit'
                ? { account: t.to, amount: t.amount }
                : { sku: t.sku, qty: t.qty },
          ),
        );
      const clientFor = (action: string) => (action === 'reserve' ? inventoryClient : accountClient);
      const answers: string[] = [];
      for (const [i, t] of transfers.entries()) {
        if (i % 4 !== 0) continue; // a sample is enough
        for (const b of finals[i].branches) {
          // A refused Try left nothing and gets no phase two: replaying it would be a first Try, not a duplicate.
          if (b.tryOutcome !== 'TRY_SUCCEEDED') continue;
          const req: BranchRequest = { gid: t.gid!, branch_id: b.branchId, action: b.action, payload: payloadOf(t, b.action) };
          if (t.committed) {
            answers.push(`confirm:${await callParticipant(clientFor(b.action), 'confirm', req)}`);
          } else {
            answers.push(`cancel:${await callParticipant(clientFor(b.action), 'cancel', req)}`);
            answers.push(`late-try:${await callParticipant(clientFor(b.action), 'try', req)}`);
          }
        }
      }
      expect(answers.length, why).to.be.greaterThan(0);
      for (const a of answers) expect(['confirm:OK', 'cancel:OK', 'late-try:ABORTED'], why).to.include(a);
      expect(await books(), `after the duplicates ${why}`).to.deep.equal(after);
    });

    // Last: it deletes the barrier rows of every finished branch so far, which the duplicate tests above rely on.
    it("the account service's barrier pruner deletes the rows of finished branches only, never a branch still waiting for phase two", async () => {
      const [buyer] = [unique('buyer')];
      await seedAccounts({ [buyer]: 100 });
      const { gid: done } = await tcc.transaction({ timeoutMs: 30_000 }, async (tx) => {
        await tx.try(acct().address, 'debit', { account: buyer, amount: 10 });
      });
      await waitFinished(done);
      const { gid: pending } = await tcc.begin({ timeoutMs: 30_000 });
      const { branchId } = await tcc.try(pending, { participant: acct().address, action: 'debit', payload: { account: buyer, amount: 40 } });
      const rows = () => acct().knex<{ gid: string; branch_id: string; slot: string }>('tcc_barriers').select('gid', 'branch_id', 'slot');
      expect((await rows()).filter((r) => r.slot === 'phase2').length, 'finished branches before pruning').to.be.greaterThan(0);

      await sleep(5);
      const pruner = new BarrierPruner(acct().knex, createLogger({ level: 'silent' }), { retentionMs: 1 });
      await pruner.runOnce();
      await pruner.stop();
      // Only the pending branch's Try row is left: a late Cancel must still find it, or it would be an empty rollback.
      expect(await rows()).to.deep.equal([{ gid: pending, branch_id: branchId, slot: 'try' }]);

      await tcc.rollback(pending);
      expect((await waitFinished(pending)).status).to.equal('CANCELLED');
      expect(await balances([buyer])).to.deep.equal({ [buyer]: { balance: 90, frozen: 0 } });
    });
  });
});
