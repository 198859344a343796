/**
 * The chaos suite's invariant checker (chaos/invariant-checker.ts) on
 * hand-made inputs: a consistent run passes, and each kind of broken input
 * (what a buggy coordinator or participant would leave behind) is reported.
 */
import { expect } from 'chai';
import { checkInvariants, type CheckTargets } from '../chaos/invariant-checker';
import type { Snapshot } from '../chaos/snapshot';
import type { ClientRecord } from '../chaos/workload';

const T: CheckTargets = {
  accountTarget: '127.0.0.1:1',
  inventoryTarget: '127.0.0.1:2',
  faultTarget: '127.0.0.1:3',
  accountStart: new Map([['a0', 1000], ['a1', 1000]]),
  skuStart: new Map([['s0', 100]]),
  poolUnits: 1000,
};

/** g1 committed: a0 -> a1 100, 2 of s0, 5 points. g2 rolled back: debit a0 50, 1 of s0, 3 points, all cancelled. */
function consistent(): { s: Snapshot; clients: ClientRecord[] } {
  const s: Snapshot = {
    transactions: [
      { gid: 'g1', status: 'CONFIRMED' },
      { gid: 'g2', status: 'CANCELLED' },
    ],
    branches: [
      { gid: 'g1', branchId: 'b0', participant: T.accountTarget, action: 'debit', payload: '{"account":"a0","amount":100}' },
      { gid: 'g1', branchId: 'b1', participant: T.accountTarget, action: 'credit', payload: '{"account":"a1","amount":100}' },
      { gid: 'g1', branchId: 'b2', participant: T.inventoryTarget, action: 'reserve', payload: '{"sku":"s0","qty":2}' },
      { gid: 'g1', branchId: 'b3', participant: T.faultTarget, action: 'points', payload: '{"units":5,"try":"ok","confirm":"twice","cancel":"ok"}' },
      { gid: 'g2', branchId: 'b0', participant: T.accountTarget, action: 'debit', payload: '{"account":"a0","amount":50}' },
      { gid: 'g2', branchId: 'b1', participant: T.inventoryTarget, action: 'reserve', payload: '{"sku":"s0","qty":1}' },
      { gid: 'g2', branchId: 'b2', participant: T.faultTarget, action: 'points', payload: '{"units":3,"try":"ok","confirm":"ok","cancel":"ok"}' },
    ],
    logs: [
      { gid: 'g1', branchId: '', phase: 'decision', outcome: 'commit' },
      { gid: 'g1', branchId: 'b0', phase: 'confirm', outcome: 'ok' },
      { gid: 'g2', branchId: '', phase: 'decision', outcome: 'rollback' },
      { gid: 'g2', branchId: 'b0', phase: 'cancel', outcome: 'ok' },
    ],
    accounts: [
      { id: 'a0', balance: 900, frozen: 0 },
      { id: 'a1', balance: 1100, frozen: 0 },
    ],
    accountBarriers: [
      { gid: 'g1', branchId: 'b0', try: 'try', phase2: 'confirm' },
      { gid: 'g1', branchId: 'b1', try: 'try', phase2: 'confirm' },
      { gid: 'g2', branchId: 'b0', try: 'try', phase2: 'cancel' },
    ],
    stock: [{ sku: 's0', available: 98, reserved: 0, sold: 2 }],
    inventoryBarriers: [
      { gid: 'g1', branchId: 'b2', try: 'try', phase2: 'confirm' },
      { gid: 'g2', branchId: 'b1', try: 'try', phase2: 'cancel' },
    ],
    pool: { available: 995, held: 0, spent: 5 },
    faultBarriers: [
      { gid: 'g1', branchId: 'b3', try: 'try', phase2: 'confirm' },
      { gid: 'g2', branchId: 'b2', try: 'try', phase2: 'cancel' },
    ],
    faultEffects: [
      { gid: 'g1', branchId: 'b3', phase: 'try', units: 5 },
      { gid: 'g1', branchId: 'b3', phase: 'confirm', units: 5 },
      { gid: 'g2', branchId: 'b2', phase: 'try', units: 3 },
      { gid: 'g2', branchId: 'b2', phase: 'cancel', units: 3 },
    ],
  };
  const clients: ClientRecord[] = [
    { gid: 'g1', flow: 'execute', commitSent: true, answer: 'committed' },
    { gid: 'g2', flow: 'interactive', commitSent: false, answer: 'rolled-back' },
  ];
  return { s, clients };
}

function violationsAfter(breakIt: (s: Snapshot, clients: ClientRecord[]) => void): string[] {
  const { s, clients } = consistent();
  breakIt(s, clients);
  return checkInvariants(s, clients, T);
}

describe('chaos invariant checker', function () {
  it('finds nothing wrong in a consistent run', function () {
    const { s, clients } = consistent();
    expect(checkInvariants(s, clients, T)).to.deep.equal([]);
  });

  const cases: Array<[string, (s: Snapshot, c: ClientRecord[]) => void, RegExp]> = [
    ['a transaction left unfinished', (s) => (s.transactions[1].status = 'CANCELLING'), /g2 is CANCELLING, not CONFIRMED or CANCELLED/],
    ['a Confirm logged after a rollback decision', (s) => s.logs.push({ gid: 'g2', branchId: 'b1', phase: 'confirm', outcome: 'ok' }), /Confirm of g2\/b1 after a rollback decision/],
    ['a Cancel logged after a commit decision', (s) => s.logs.push({ gid: 'g1', branchId: 'b2', phase: 'cancel', outcome: 'ok' }), /Cancel of g1\/b2 after a commit decision/],
    ['two different decisions', (s) => s.logs.push({ gid: 'g1', branchId: '', phase: 'decision', outcome: 'rollback' }), /g1 has conflicting decisions/],
    ['a client told committed whose transaction was cancelled', (_s, c) => (c[1].answer = 'committed'), /client told g2 committed, it ended CANCELLED/],
    ['a client told rolled back whose transaction was confirmed', (_s, c) => (c[0].answer = 'rolled-back'), /client told g1 rolled back, it ended CONFIRMED/],
    ['a transaction confirmed without a Commit', (_s, c) => (c[0].commitSent = false), /g1 ended CONFIRMED, though the client never sent Commit/],
    ['a Rollback refused as committed', (_s, c) => (c[1].answer = 'rollback-refused'), /Rollback of g2 refused as committed/],
    ['a participant confirming in a cancelled transaction', (s) => (s.inventoryBarriers[1].phase2 = 'confirm'), /inventory: g2\/b1 was confirmed, the transaction ended CANCELLED/],
    ['a participant cancelling in a confirmed transaction', (s) => (s.accountBarriers[1].phase2 = 'cancel'), /account: g1\/b1 was cancelled, the transaction ended CONFIRMED/],
    ['an effective Try that never got phase two', (s) => delete s.faultBarriers[1].phase2, /fault: g2\/b2: its Try took effect but it never got Confirm or Cancel/],
    ['a committed branch never confirmed at its participant', (s) => s.accountBarriers.splice(1, 1), /account: g1\/b1 is in a CONFIRMED transaction but was not tried and confirmed/],
    ['a barrier record of a transaction the coordinator does not know', (s) => s.faultBarriers.push({ gid: 'ghost', branchId: 'b0', try: 'try', phase2: 'cancel' }), /ghost\/b0 has a barrier record but the coordinator has no such transaction/],
    ['money created', (s) => (s.accounts[1].balance += 1), /money not conserved/],
    ['money moved by a cancelled transaction', (s) => { s.accounts[0].balance -= 50; s.accounts[1].balance += 50; }, /account a0: balance 850, committed transactions make it 900/],
    ['money still frozen', (s) => (s.accounts[0].frozen = 50), /account a0: 50 still frozen/],
    ['stock not conserved', (s) => (s.stock[0].available += 1), /stock s0 not conserved/],
    ['stock still reserved', (s) => { s.stock[0].available -= 1; s.stock[0].reserved = 1; }, /stock s0: 1 still reserved/],
    ['stock sold twice', (s) => { s.stock[0].available -= 2; s.stock[0].sold += 2; }, /stock s0: sold 4, committed transactions make it 2/],
    ['fault pool not conserved', (s) => (s.pool.spent += 1), /fault pool not conserved/],
    ['fault pool units still held', (s) => { s.pool.available -= 3; s.pool.held = 3; }, /fault pool: 3 still held/],
    ['an effect applied twice', (s) => s.faultEffects.push({ gid: 'g1', branchId: 'b3', phase: 'confirm', units: 5 }), /effect g1\/b3\/confirm applied 2 times/],
    ['a Confirm effect in a cancelled transaction', (s) => s.faultEffects.push({ gid: 'g2', branchId: 'b2', phase: 'confirm', units: 3 }), /Confirm effect of g2\/b2 in a transaction that ended CANCELLED/],
  ];
  for (const [what, breakIt, expected] of cases) {
    it(`reports ${what}`, function () {
      const v = violationsAfter(breakIt);
      expect(v.some((line) => expected.test(line)), `violations: ${JSON.stringify(v)}`).to.equal(true);
    });
  }
});
