/**
 * The processes of a chaos run, all on loopback and all its own: a private
 * MariaDB (coordinator tables in `tcc`, the account service in `account`), a
 * private redis-server (inventory), 2-3 coordinator replicas, the account,
 * inventory and fault participants. Ports are chosen once and kept, so a
 * restarted process is found where the coordinators stored it.
 */
import * as path from 'node:path';
import * as mysql from 'mysql2/promise';
import { Cleanup } from './cleanup';
import { freePort } from './free-port';
import { ManagedProcess } from './managed-process';
import { startPrivateMariadb, type PrivateMariadb } from './private-mariadb';
import { startPrivateRedis, type PrivateRedis } from './private-redis';

/** Timings shared by the cluster and the workload (short, so that a run sees many recoveries). */
export const BRANCH_TIMEOUT_MS = 1_500;
/** A hanging fault call answers this late: past the coordinator's deadline of the call. */
export const HANG_MS = BRANCH_TIMEOUT_MS + 1_000;
/** The coordinators' claim lease (claimLeaseMs in src/domain/recovery-rules.ts: 2 x branch timeout + 5 s). */
export const CLAIM_LEASE_MS = 2 * BRANCH_TIMEOUT_MS + 5_000;

export const ACCOUNTS = ['acct-0', 'acct-1', 'acct-2', 'acct-3', 'acct-4', 'acct-5'];
export const ACCOUNT_START_BALANCE = 1_000_000;
export const SKUS = ['sku-0', 'sku-1', 'sku-2', 'sku-3'];
export const SKU_START_STOCK = 1_000_000;
export const INVENTORY_PREFIX = 'inv:';

export interface ClusterOptions {
  replicas: number;
  transport: string | undefined;
  /** The run's temp folder (deleted by cleanup). */
  dir: string;
  cleanup: Cleanup;
}

export class Cluster {
  readonly coordinators: ManagedProcess[] = [];
  account!: ManagedProcess;
  inventory!: ManagedProcess;
  fault!: ManagedProcess;
  coordinatorAddresses: string[] = [];
  accountTarget = '';
  inventoryTarget = '';
  faultTarget = '';
  faultDbFile = '';

  private constructor(
    readonly mariadb: PrivateMariadb,
    readonly redis: PrivateRedis,
  ) {}

  static async start(o: ClusterOptions): Promise<Cluster> {
    const track = o.cleanup.track.bind(o.cleanup);
    const mariadb = await startPrivateMariadb({ parentDir: o.dir, onSpawn: track });
    const redis = await startPrivateRedis(path.join(o.dir, 'redis'), track);
    const c = new Cluster(mariadb, redis);
    await mariadb.createDatabase('tcc');
    await mariadb.createDatabase('account');

    const dist = path.resolve(__dirname, '..');
    const [accountPort, inventoryPort, faultPort] = [await freePort(), await freePort(), await freePort()];
    c.accountTarget = `127.0.0.1:${accountPort}`;
    c.inventoryTarget = `127.0.0.1:${inventoryPort}`;
    c.faultTarget = `127.0.0.1:${faultPort}`;
    c.faultDbFile = path.join(o.dir, 'fault.sqlite');

    c.account = new ManagedProcess({
      name: 'account',
      script: path.join(dist, 'participants', 'account', 'main.js'),
      env: {
        ACCOUNT_ADDR: c.accountTarget,
        ACCOUNT_DB_URL: mariadb.url('account'),
        ACCOUNT_SEED: ACCOUNTS.map((a) => `${a}=${ACCOUNT_START_BALANCE}`).join(','),
        ACCOUNT_LOG_LEVEL: 'info',
      },
      readyMsg: 'account service listening',
      onSpawn: track,
    });
    c.inventory = new ManagedProcess({
      name: 'inventory',
      script: path.join(dist, 'participants', 'inventory', 'main.js'),
      env: {
        INVENTORY_ADDR: c.inventoryTarget,
        INVENTORY_REDIS_URL: redis.url,
        INVENTORY_KEY_PREFIX: INVENTORY_PREFIX,
        INVENTORY_SEED: SKUS.map((s) => `${s}=${SKU_START_STOCK}`).join(','),
        INVENTORY_LOG_LEVEL: 'info',
      },
      readyMsg: 'inventory service listening',
      onSpawn: track,
    });
    c.fault = new ManagedProcess({
      name: 'fault',
      script: path.join(dist, 'chaos', 'fault-participant-main.js'),
      args: [c.faultTarget, c.faultDbFile, String(HANG_MS)],
      env: {},
      readyMsg: 'fault participant listening',
      onSpawn: track,
    });
    await Promise.all([c.account.start(), c.inventory.start(), c.fault.start()]);

    for (let i = 0; i < o.replicas; i++) {
      const port = await freePort();
      c.coordinatorAddresses.push(`127.0.0.1:${port}`);
      const env: Record<string, string> = {
        TCC_GRPC_ADDR: `127.0.0.1:${port}`,
        TCC_DB_URL: mariadb.url('tcc'),
        TCC_NODE_ID: `replica-${i}`,
        TCC_LOG_LEVEL: 'info',
        TCC_BRANCH_TIMEOUT_MS: String(BRANCH_TIMEOUT_MS),
        TCC_DEFAULT_TIMEOUT_MS: '15000',
        TCC_RETRY_INITIAL_MS: '100',
        TCC_RETRY_MAX_MS: '2000',
        TCC_SWEEP_INTERVAL_MS: '250',
        TCC_SHUTDOWN_GRACE_MS: '1000',
        // Finished transactions are the checker's input: keep them.
        TCC_RETENTION_MS: '0',
      };
      if (o.transport !== undefined) env.TCC_PARTICIPANT_TRANSPORT = o.transport;
      const coordinator = new ManagedProcess({
        name: `coordinator-${i}`,
        script: path.join(dist, 'src', 'main.js'),
        env,
        readyMsg: 'coordinator listening',
        onSpawn: track,
      });
      c.coordinators.push(coordinator);
      // One at a time: the first one runs the migrations.
      await coordinator.start();
    }
    return c;
  }

  /** Every managed node process. */
  get processes(): ManagedProcess[] {
    return [...this.coordinators, this.account, this.inventory, this.fault];
  }

  get participants(): ManagedProcess[] {
    return [this.account, this.inventory, this.fault];
  }

  /** Starts whatever is down (databases first); used after faults and before the final checks. */
  async restartDown(): Promise<void> {
    if (!this.mariadb.running) await this.mariadb.start();
    this.mariadb.resume();
    if (!this.redis.running) await this.redis.start();
    for (const p of this.processes) {
      p.resume();
      if (!p.running) await p.start();
    }
  }

  /** `KILL CONNECTION` of every connection the coordinators hold (database `tcc`); returns how many. */
  async killCoordinatorConnections(pick: (ids: number[]) => number[]): Promise<number> {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: this.mariadb.port, user: 'root', connectTimeout: 5_000 });
    try {
      const [rows] = await conn.query("SELECT id FROM information_schema.PROCESSLIST WHERE db = 'tcc' AND id <> CONNECTION_ID() ORDER BY id");
      const ids = (rows as { id: number }[]).map((r) => Number(r.id));
      let killed = 0;
      for (const id of pick(ids)) {
        try {
          await conn.query(`KILL CONNECTION ${Number(id)}`);
          killed++;
        } catch {
          // gone in the meantime
        }
      }
      return killed;
    } finally {
      await conn.end().catch(() => undefined);
    }
  }
}
