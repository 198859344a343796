/**
 * The chaos run's verdict: every rule a coordinator trusted with money must
 * keep under faults, checked against what each party stored (a Snapshot) and
 * what the clients were told (ClientRecords). Pure: no I/O, so
 * test/chaos-checker.test.ts feeds it broken inputs and sees each rule fire.
 * Returns one line per violation; empty means the run was correct.
 */
import type { BarrierRecord, Snapshot } from './snapshot';
import type { ClientRecord } from './workload';

export interface CheckTargets {
  accountTarget: string;
  inventoryTarget: string;
  faultTarget: string;
  /** Starting balance of each account (all of them, also those no transaction touched). */
  accountStart: ReadonlyMap<string, number>;
  skuStart: ReadonlyMap<string, number>;
  poolUnits: number;
}

const FINAL = new Set(['CONFIRMED', 'CANCELLED']);
/** Decided to commit / to roll back (phase two may still be running: "not finished" is reported once, by rule 1). */
const COMMITTED = new Set(['CONFIRMING', 'CONFIRMED']);
const ROLLED_BACK = new Set(['CANCELLING', 'CANCELLED']);

function payloadOf(raw: string): Record<string, unknown> {
  try {
    const v = JSON.parse(raw) as unknown;
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export function checkInvariants(s: Snapshot, clients: readonly ClientRecord[], t: CheckTargets): string[] {
  const v: string[] = [];
  const status = new Map(s.transactions.map((r) => [r.gid, r.status]));

  // 1. Every transaction finished.
  for (const tx of s.transactions) {
    if (!FINAL.has(tx.status)) v.push(`transaction ${tx.gid} is ${tx.status}, not CONFIRMED or CANCELLED`);
  }

  // 2. Every answer a client got is allowed by the contract.
  for (const c of clients) {
    const st = status.get(c.gid);
    if (c.answer === 'committed' && !COMMITTED.has(st ?? '')) v.push(`client told ${c.gid} committed, it ended ${st ?? 'absent'}`);
    if (c.answer === 'rolled-back' && !ROLLED_BACK.has(st ?? '')) v.push(`client told ${c.gid} rolled back, it ended ${st ?? 'absent'}`);
    if (c.answer === 'rollback-refused') v.push(`client's Rollback of ${c.gid} refused as committed, though no Commit was sent`);
    if (!c.commitSent && COMMITTED.has(st ?? '')) v.push(`${c.gid} ended ${st}, though the client never sent Commit`);
  }

  // 3. Decisions (tcc_logs): one per transaction, matching its status; no Confirm after rollback, no Cancel after commit.
  const decisions = new Map<string, Set<string>>();
  for (const l of s.logs) {
    if (l.phase !== 'decision') continue;
    const set = decisions.get(l.gid) ?? new Set<string>();
    set.add(l.outcome);
    decisions.set(l.gid, set);
  }
  for (const [gid, set] of decisions) {
    if (set.size > 1) v.push(`${gid} has conflicting decisions in tcc_logs: ${[...set].join(', ')}`);
    const st = status.get(gid);
    if (set.has('commit') && st === 'CANCELLED') v.push(`${gid} was decided commit but ended CANCELLED`);
    if (set.has('rollback') && st === 'CONFIRMED') v.push(`${gid} was decided rollback but ended CONFIRMED`);
  }
  for (const l of s.logs) {
    const st = status.get(l.gid);
    const decided = decisions.get(l.gid);
    if (l.phase === 'confirm' && (st === 'CANCELLED' || decided?.has('rollback'))) v.push(`tcc_logs: Confirm of ${l.gid}/${l.branchId} after a rollback decision`);
    if (l.phase === 'cancel' && (st === 'CONFIRMED' || decided?.has('commit'))) v.push(`tcc_logs: Cancel of ${l.gid}/${l.branchId} after a commit decision`);
  }

  // 4. Participants' barrier records agree with the outcome, and every effective Try got its phase two.
  const branchesAt = (target: string) => s.branches.filter((b) => b.participant === target);
  const checkBarriers = (name: string, target: string, records: readonly BarrierRecord[]) => {
    const byKey = new Map(records.map((r) => [`${r.gid}/${r.branchId}`, r]));
    for (const r of records) {
      const st = status.get(r.gid);
      const where = `${name}: ${r.gid}/${r.branchId}`;
      if (st === undefined) v.push(`${where} has a barrier record but the coordinator has no such transaction`);
      if (r.phase2 === 'confirm' && st !== 'CONFIRMED') v.push(`${where} was confirmed, the transaction ended ${st ?? 'absent'}`);
      if (r.phase2 === 'cancel' && st === 'CONFIRMED') v.push(`${where} was cancelled, the transaction ended CONFIRMED`);
      if (r.try === 'try' && r.phase2 === undefined) v.push(`${where}: its Try took effect but it never got Confirm or Cancel`);
    }
    for (const b of branchesAt(target)) {
      if (status.get(b.gid) !== 'CONFIRMED') continue;
      const r = byKey.get(`${b.gid}/${b.branchId}`);
      if (r?.try !== 'try' || r.phase2 !== 'confirm') {
        v.push(`${name}: ${b.gid}/${b.branchId} is in a CONFIRMED transaction but was not tried and confirmed there (try=${r?.try ?? '-'}, phase2=${r?.phase2 ?? '-'})`);
      }
    }
  };
  checkBarriers('account', t.accountTarget, s.accountBarriers);
  checkBarriers('inventory', t.inventoryTarget, s.inventoryBarriers);
  checkBarriers('fault', t.faultTarget, s.faultBarriers);

  // 5. Business data: each committed transaction's effects exactly once, each rolled-back one's never.
  const expectedBalance = new Map(t.accountStart);
  const expectedSold = new Map<string, number>([...t.skuStart.keys()].map((k) => [k, 0]));
  let expectedSpent = 0;
  for (const b of s.branches) {
    if (status.get(b.gid) !== 'CONFIRMED') continue;
    const p = payloadOf(b.payload);
    if (b.participant === t.accountTarget) {
      const account = String(p.account);
      const amount = Number(p.amount);
      expectedBalance.set(account, (expectedBalance.get(account) ?? 0) + (b.action === 'credit' ? amount : -amount));
    } else if (b.participant === t.inventoryTarget) {
      expectedSold.set(String(p.sku), (expectedSold.get(String(p.sku)) ?? 0) + Number(p.qty));
    } else if (b.participant === t.faultTarget) {
      expectedSpent += Number(p.units);
    }
  }
  const startMoney = [...t.accountStart.values()].reduce((a, b) => a + b, 0);
  const money = s.accounts.reduce((a, r) => a + r.balance, 0);
  if (money !== startMoney) v.push(`money not conserved: balances sum to ${money}, started at ${startMoney}`);
  for (const a of s.accounts) {
    if (a.frozen !== 0) v.push(`account ${a.id}: ${a.frozen} still frozen after quiescence`);
    const want = expectedBalance.get(a.id);
    if (want !== a.balance) v.push(`account ${a.id}: balance ${a.balance}, committed transactions make it ${want ?? 'unknown'}`);
  }
  if (s.accounts.length !== t.accountStart.size) v.push(`accounts: ${s.accounts.length} rows, expected ${t.accountStart.size}`);
  for (const st of s.stock) {
    const start = t.skuStart.get(st.sku);
    if (start === undefined) continue;
    if (st.available + st.reserved + st.sold !== start) v.push(`stock ${st.sku} not conserved: ${st.available}+${st.reserved}+${st.sold} != ${start}`);
    if (st.reserved !== 0) v.push(`stock ${st.sku}: ${st.reserved} still reserved after quiescence`);
    if (st.sold !== expectedSold.get(st.sku)) v.push(`stock ${st.sku}: sold ${st.sold}, committed transactions make it ${expectedSold.get(st.sku)}`);
  }
  if (s.stock.length !== t.skuStart.size) v.push(`stock: ${s.stock.length} SKUs found, expected ${t.skuStart.size}`);
  const pool = s.pool;
  if (pool.available + pool.held + pool.spent !== t.poolUnits) v.push(`fault pool not conserved: ${pool.available}+${pool.held}+${pool.spent} != ${t.poolUnits}`);
  if (pool.held !== 0) v.push(`fault pool: ${pool.held} still held after quiescence`);
  if (pool.spent !== expectedSpent) v.push(`fault pool: spent ${pool.spent}, committed transactions make it ${expectedSpent}`);

  // 6. No business effect applied twice (the fault participant logs each one).
  const seen = new Map<string, number>();
  for (const e of s.faultEffects) {
    const key = `${e.gid}/${e.branchId}/${e.phase}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const st = status.get(e.gid);
    if (e.phase === 'confirm' && st !== 'CONFIRMED') v.push(`fault: Confirm effect of ${e.gid}/${e.branchId} in a transaction that ended ${st ?? 'absent'}`);
    if (e.phase === 'cancel' && st === 'CONFIRMED') v.push(`fault: Cancel effect of ${e.gid}/${e.branchId} in a CONFIRMED transaction`);
  }
  for (const [key, n] of seen) if (n > 1) v.push(`fault: effect ${key} applied ${n} times`);

  return v;
}
