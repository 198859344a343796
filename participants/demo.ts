#!/usr/bin/env node
/**
 * `npm run demo`: the coordinator and both example participants as real
 * processes, and two purchases through the client SDK, one committed and
 * one refused and rolled back, with balances and stock before and after.
 *
 * Needs nothing but `npm install` and Redis, found or started: Redis at
 * DEMO_REDIS_URL (default redis://127.0.0.1:6379) when it answers, else a
 * private `redis-server` from PATH. Everything else lives in a temp folder
 * (SQLite files) and is removed at the end, as are this run's Redis keys and
 * every process it started, also on errors and Ctrl-C. Exit 0 on success.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import Redis from 'ioredis';
import {
  BranchRefusedError,
  TccClient,
  TransactionRolledBackError,
  type TccTransactionHandle,
  type TransactionInfo,
} from '../src/client';
import { knexConfigFor } from '../src/store/create-store';
import { AccountStore, type AccountRow } from './account/account-store';
import { InventoryStore, type StockLevels } from './inventory/inventory-store';
import { findOrStartRedis, NoRedisError, type DemoRedis } from './demo/demo-redis';
import { startServiceProcess, stopServiceProcess, type ServiceProcess } from './demo/service-process';
import { errorText } from './shared/service-main';

const DIST = path.resolve(__dirname, '..'); // dist/
const COORDINATOR_MAIN = path.join(DIST, 'src', 'main.js');
const ACCOUNT_MAIN = path.join(__dirname, 'account', 'main.js');
const INVENTORY_MAIN = path.join(__dirname, 'inventory', 'main.js');

const BUYER = 'alice';
const SHOP = 'shop';
const SKU = 'widget';
/** Balances in cents. */
const ACCOUNT_SEED = `${BUYER}=10000,${SHOP}=0`;
const STOCK_SEED = `${SKU}=3`;

interface Purchase {
  readonly title: string;
  readonly qty: number;
  /** Cents. */
  readonly price: number;
}

const PURCHASES: readonly Purchase[] = [
  { title: `${BUYER} buys 1 ${SKU} for 25.00`, qty: 1, price: 2_500 },
  // Affordable (75.00 left), but only 2 widgets are left: the inventory refuses, and the debit already frozen is cancelled.
  { title: `${BUYER} buys 5 ${SKU}s for 50.00`, qty: 5, price: 5_000 },
];

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

const money = (cents: number): string => `${cents < 0 ? '-' : ''}${Math.floor(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, '0')}`;

class Demo {
  private readonly started = Date.now();
  private readonly processes: ServiceProcess[] = [];
  private dir: string | undefined;
  private redis: DemoRedis | undefined;
  private client: TccClient | undefined;
  private accountsDb: Knex | undefined;
  private stockDb: Redis | undefined;
  private cleaning: Promise<void> | undefined;

  async run(): Promise<void> {
    say('TCC demo: alice buys widgets from a shop. Each purchase is one TCC transaction with three branches:');
    say('debit alice and credit the shop (account service, SQLite), reserve the widgets (inventory service, Redis).');
    say();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-demo-'));
    say(`Starting (temporary data in ${this.dir}):`);
    const demoRedisUrl = process.env.DEMO_REDIS_URL?.trim() || 'redis://127.0.0.1:6379';
    if (!/^redis:\/\/[^/]/.test(demoRedisUrl)) throw new Error(`DEMO_REDIS_URL: expected redis://[:password@]host:port, got "${demoRedisUrl}"`);
    this.redis = await findOrStartRedis(demoRedisUrl, this.dir, (p) => this.processes.push(p));
    say(`  redis        ${this.redis.description}`);

    const env = { PATH: process.env.PATH ?? '' };
    const track = (p: ServiceProcess) => this.processes.push(p);
    const accountDbFile = path.join(this.dir, 'account.sqlite');
    const [coordinator, account, inventory] = await Promise.all([
      startServiceProcess({
        name: 'coordinator',
        command: process.execPath,
        args: [COORDINATOR_MAIN],
        env: {
          ...env,
          TCC_DB_URL: `sqlite:${path.join(this.dir, 'tcc.sqlite')}`,
          TCC_GRPC_ADDR: '127.0.0.1:0',
          TCC_NODE_ID: 'demo-coordinator',
          TCC_SHUTDOWN_GRACE_MS: '2000',
        },
        readyMessage: 'coordinator listening',
        onSpawn: track,
      }),
      startServiceProcess({
        name: 'account',
        command: process.execPath,
        args: [ACCOUNT_MAIN],
        env: { ...env, ACCOUNT_ADDR: '127.0.0.1:0', ACCOUNT_DB_URL: `sqlite:${accountDbFile}`, ACCOUNT_SEED: ACCOUNT_SEED },
        readyMessage: 'account service listening',
        onSpawn: track,
      }),
      startServiceProcess({
        name: 'inventory',
        command: process.execPath,
        args: [INVENTORY_MAIN],
        env: {
          ...env,
          INVENTORY_ADDR: '127.0.0.1:0',
          INVENTORY_REDIS_URL: this.redis.url,
          INVENTORY_KEY_PREFIX: this.redis.keyPrefix,
          INVENTORY_SEED: STOCK_SEED,
        },
        readyMessage: 'inventory service listening',
        onSpawn: track,
      }),
    ]);
    say(`  coordinator  ${coordinator.address}  pid ${coordinator.service.child.pid}  (SQLite)`);
    say(`  account      ${account.address}  pid ${account.service.child.pid}  (SQLite, seeded ${ACCOUNT_SEED.replace(',', ', ')} cents)`);
    say(`  inventory    ${inventory.address}  pid ${inventory.service.child.pid}  (Redis, seeded ${STOCK_SEED})`);
    say();

    // Read straight from the services' stores: the participant contract has no query call.
    this.accountsDb = knexFactory(knexConfigFor(`sqlite:${accountDbFile}`, 1).config);
    const accounts = new AccountStore(this.accountsDb);
    this.stockDb = new Redis(this.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await this.stockDb.connect();
    const stock = new InventoryStore(this.stockDb, this.redis.keyPrefix);

    const before = await this.snapshot(accounts, stock);
    say('Before:');
    this.print(before);
    say();

    this.client = new TccClient(coordinator.address);
    const finished: TransactionInfo[] = [];
    for (const [i, purchase] of PURCHASES.entries()) {
      say(`Purchase ${i + 1}: ${purchase.title}`);
      const outcome = await this.purchase(this.client, account.address, inventory.address, purchase);
      // "After" must show phase two done: Confirm/Cancel run after Commit/Rollback answered.
      const info = await this.finished(this.client, outcome.gid);
      finished.push(info);
      say(`  -> ${outcome.text} (transaction ${info.gid}: ${info.status})`);
    }
    say();

    const after = await this.snapshot(accounts, stock);
    say('After (phase two finished):');
    this.print(after);
    say();
    const total = (s: Snapshot) => s.accounts.reduce((sum, a) => sum + a.balance, 0);
    const units = (s: Snapshot) => s.stock.available + s.stock.reserved + s.stock.sold;
    say(`Money in the accounts: ${money(total(before))} before, ${money(total(after))} after.`);
    say(`Widgets (available + reserved + sold): ${units(before)} before, ${units(after)} after.`);
    const expected = ['CONFIRMED', 'CANCELLED'];
    if (finished.some((t, i) => t.status !== expected[i]) || total(before) !== total(after) || units(before) !== units(after)) {
      throw new Error('the purchases did not end as expected (see above)');
    }
  }

  /** One purchase, through TccClient.transaction: committed, or rolled back with the reason. */
  private async purchase(
    client: TccClient,
    accountAddr: string,
    inventoryAddr: string,
    p: Purchase,
  ): Promise<{ gid: string; text: string }> {
    try {
      const { gid } = await client.transaction({ timeoutMs: 30_000 }, async (tx: TccTransactionHandle) => {
        // In order, so a refusal stops the rest: the branches tried so far are cancelled by the coordinator.
        await tx.try(accountAddr, 'debit', { account: BUYER, amount: p.price });
        await tx.try(accountAddr, 'credit', { account: SHOP, amount: p.price });
        await tx.try(inventoryAddr, 'reserve', { sku: SKU, qty: p.qty });
      });
      return { gid, text: 'committed' };
    } catch (err) {
      if (!(err instanceof TransactionRolledBackError) || err.gid === undefined) throw err;
      // The callback's error says which branch refused, and why; the Rollback's reason only that it was asked for.
      const cause = err.cause;
      let why = err.reason || errorText(cause);
      if (cause instanceof BranchRefusedError) {
        const service = cause.participant === inventoryAddr ? 'inventory' : 'account';
        // The coordinator's reason reads "branch <id> refused by participant: ABORTED: out of stock": keep the participant's words.
        const words = /(?:ABORTED|FAILED_PRECONDITION): (.*)$/.exec(cause.reason)?.[1] ?? cause.reason;
        why = `${service} refused ${cause.action ?? 'a branch'}: ${words}`;
      }
      return { gid: err.gid, text: `rolled back: ${why}` };
    }
  }

  /** Polls GetTransaction until phase two has finished. */
  private async finished(client: TccClient, gid: string): Promise<TransactionInfo> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const info = await client.get(gid);
      if (info.status === 'CONFIRMED' || info.status === 'CANCELLED') return info;
      if (Date.now() > deadline) throw new Error(`transaction ${gid} is still ${info.status} after 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private async snapshot(accounts: AccountStore, stock: InventoryStore): Promise<Snapshot> {
    const levels = await stock.stock(SKU);
    if (!levels) throw new Error(`the inventory has no ${SKU}`);
    return { accounts: await accounts.list(), stock: levels };
  }

  private print(s: Snapshot): void {
    for (const a of s.accounts) say(`  account ${a.id.padEnd(8)} balance ${money(a.balance).padStart(7)}  frozen ${money(a.frozen)}`);
    say(`  stock   ${SKU.padEnd(8)} available ${s.stock.available}  reserved ${s.stock.reserved}  sold ${s.stock.sold}`);
  }

  /** Stops everything this run started and removes its data. Idempotent; never rejects. */
  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      const step = async (what: string, fn: () => Promise<unknown>) => {
        try {
          await fn();
        } catch (err) {
          say(`  (cleanup: ${what} failed: ${errorText(err)})`);
        }
      };
      this.client?.close();
      await step('closing the SQLite reader', async () => this.accountsDb?.destroy());
      this.stockDb?.disconnect();
      // Services before Redis: the inventory must not write keys after they are deleted.
      const services = this.processes.filter((p) => p !== this.redis?.server);
      await step('stopping the services', () => Promise.all(services.map((p) => stopServiceProcess(p))));
      if (this.redis) await step('cleaning Redis', () => this.redis!.cleanup());
      // A private redis-server whose start was interrupted is not in this.redis yet.
      await step('stopping redis-server', () => Promise.all(this.processes.map((p) => stopServiceProcess(p))));
      if (this.dir) await step('removing the temporary folder', async () => fs.rmSync(this.dir!, { recursive: true, force: true }));
    })();
    return this.cleaning;
  }

  elapsedSeconds(): string {
    return ((Date.now() - this.started) / 1000).toFixed(1);
  }
}

interface Snapshot {
  readonly accounts: AccountRow[];
  readonly stock: StockLevels;
}

async function main(): Promise<number> {
  const demo = new Demo();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return; // already cleaning up
    interrupted = true;
    say(`\n${signal}: stopping the services and removing temporary data...`);
    void demo.cleanup().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let code = 0;
  try {
    await demo.run();
  } catch (err) {
    if (interrupted) return 130;
    say();
    say(err instanceof NoRedisError ? err.message : `Demo failed: ${errorText(err)}`);
    code = 1;
  }
  await demo.cleanup();
  if (interrupted) return 130;
  say(
    code === 0
      ? `Done in ${demo.elapsedSeconds()} s; every process the demo started is stopped and its temporary data removed.`
      : 'Every process the demo started is stopped and its temporary data removed.',
  );
  return code;
}

void main().then((code) => {
  process.exitCode = code;
  // Every handle is closed by now; this only guards against one that is not, so the demo always ends.
  setTimeout(() => process.exit(code), 5_000).unref();
});
