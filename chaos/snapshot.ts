/**
 * What the invariant checker reads at the end of a run, straight from where
 * each party keeps it: the coordinator's tables on the private MariaDB, the
 * account service's database (balances and SQL barrier rows), the inventory's
 * Redis (stock hashes and barrier records) and the fault participant's SQLite
 * file (its pool, barrier rows and effect log).
 */
import knexFactory from 'knex';
import Redis from 'ioredis';
import * as mysql from 'mysql2/promise';
import { INVENTORY_PREFIX, type Cluster } from './cluster';

export interface TxRow { gid: string; status: string }
export interface BranchRow { gid: string; branchId: string; participant: string; action: string; payload: string }
export interface LogRow { gid: string; branchId: string; phase: string; outcome: string }
/** A branch's barrier record at a participant: `try` is 'try' for an effective Try ('cancel' after an empty rollback), `phase2` 'confirm' | 'cancel'. */
export interface BarrierRecord { gid: string; branchId: string; try?: string; phase2?: string }
export interface AccountRow { id: string; balance: number; frozen: number }
export interface StockRow { sku: string; available: number; reserved: number; sold: number }
export interface EffectRow { gid: string; branchId: string; phase: string; units: number }

export interface Snapshot {
  transactions: TxRow[];
  branches: BranchRow[];
  logs: LogRow[];
  accounts: AccountRow[];
  accountBarriers: BarrierRecord[];
  stock: StockRow[];
  inventoryBarriers: BarrierRecord[];
  pool: { available: number; held: number; spent: number };
  faultBarriers: BarrierRecord[];
  faultEffects: EffectRow[];
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

/** Rows (gid, branch_id, slot, op) of a SQL barrier table folded into one record per branch. */
export function foldSqlBarrier(rows: ReadonlyArray<{ gid: unknown; branch_id: unknown; slot: unknown; op: unknown }>): BarrierRecord[] {
  const byKey = new Map<string, BarrierRecord>();
  for (const r of rows) {
    const gid = text(r.gid);
    const branchId = text(r.branch_id);
    const key = `${gid}/${branchId}`;
    const rec = byKey.get(key) ?? { gid, branchId };
    if (text(r.slot) === 'try') rec.try = text(r.op);
    else rec.phase2 = text(r.op);
    byKey.set(key, rec);
  }
  return [...byKey.values()];
}

export async function takeSnapshot(cluster: Cluster): Promise<Snapshot> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: cluster.mariadb.port, user: 'root' });
  let s: Omit<Snapshot, 'stock' | 'inventoryBarriers' | 'pool' | 'faultBarriers' | 'faultEffects'>;
  try {
    const q = async (sql: string) => (await conn.query(sql))[0] as Record<string, unknown>[];
    s = {
      transactions: (await q('SELECT gid, status FROM tcc.tcc_transactions')).map((r) => ({ gid: text(r.gid), status: text(r.status) })),
      branches: (await q('SELECT gid, branch_id, participant, action, payload FROM tcc.tcc_branches')).map((r) => ({
        gid: text(r.gid),
        branchId: text(r.branch_id),
        participant: text(r.participant),
        action: text(r.action),
        payload: text(r.payload),
      })),
      logs: (await q('SELECT gid, branch_id, phase, outcome FROM tcc.tcc_logs')).map((r) => ({
        gid: text(r.gid),
        branchId: text(r.branch_id),
        phase: text(r.phase),
        outcome: text(r.outcome),
      })),
      accounts: (await q('SELECT id, balance, frozen FROM account.accounts')).map((r) => ({
        id: text(r.id),
        balance: Number(r.balance),
        frozen: Number(r.frozen),
      })),
      accountBarriers: foldSqlBarrier((await q('SELECT gid, branch_id, slot, op FROM account.tcc_barriers')) as never),
    };
  } finally {
    await conn.end();
  }

  const redis = new Redis(cluster.redis.url, { maxRetriesPerRequest: 3 });
  const stock: StockRow[] = [];
  const inventoryBarriers: BarrierRecord[] = [];
  try {
    for (const key of await redis.keys(`${INVENTORY_PREFIX}stock:*`)) {
      const h = await redis.hgetall(key);
      stock.push({ sku: key.slice(`${INVENTORY_PREFIX}stock:`.length), available: Number(h.available ?? 0), reserved: Number(h.reserved ?? 0), sold: Number(h.sold ?? 0) });
    }
    const barrierPrefix = `${INVENTORY_PREFIX}barrier:`;
    for (const key of await redis.keys(`${barrierPrefix}*`)) {
      const [gid, branchId] = key.slice(barrierPrefix.length).split('/');
      const h = await redis.hgetall(key);
      inventoryBarriers.push({ gid, branchId, try: h.try, phase2: h.phase2 });
    }
  } finally {
    redis.disconnect();
  }

  const fault = knexFactory({ client: 'better-sqlite3', connection: { filename: cluster.faultDbFile }, useNullAsDefault: true });
  try {
    const [pool] = await fault<{ available: number; held: number; spent: number }>('points').select('available', 'held', 'spent');
    const faultBarriers = foldSqlBarrier(await fault('tcc_barriers').select('gid', 'branch_id', 'slot', 'op'));
    const faultEffects = (await fault<Record<string, unknown>>('fault_effects').select('gid', 'branch_id', 'phase', 'units')).map((r) => ({
      gid: text(r.gid),
      branchId: text(r.branch_id),
      phase: text(r.phase),
      units: Number(r.units),
    }));
    return { ...s, stock, inventoryBarriers, pool, faultBarriers, faultEffects };
  } finally {
    await fault.destroy();
  }
}
