import { expect } from 'chai';
import pino from 'pino';
import { TransactionEngine } from '../src/engine/transaction-engine';
import { createTransactionStore } from '../src/store/create-store';
import type { ResultsOf, StoreCommand, TransactionStore } from '../src/store/transaction-store';
import { forEachBackend, pollUntil } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

function connectionLost(): Error {
  return Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
}

/**
 * The real store, except for the next batch carrying a decision: with
 * 'after-commit' it commits on the server and then the caller gets the error
 * a dropped connection gives (a COMMIT whose answer never arrived); with
 * 'before-commit' the connection drops before anything is written.
 */
class LostAckStore implements TransactionStore {
  nextDecision: 'normal' | 'after-commit' | 'before-commit' = 'normal';
  constructor(private readonly inner: TransactionStore) {}
  get dialect(): 'sqlite' | 'mysql' {
    return this.inner.dialect;
  }
  async execute<const T extends readonly StoreCommand[]>(commands: T): Promise<ResultsOf<T>> {
    const mode = commands.some((c) => c.kind === 'decide') ? this.nextDecision : 'normal';
    if (mode !== 'normal') this.nextDecision = 'normal';
    if (mode === 'before-commit') throw connectionLost();
    const results = await this.inner.execute(commands);
    if (mode === 'after-commit') throw connectionLost();
    return results;
  }
  getTransaction: TransactionStore['getTransaction'] = (gid) => this.inner.getTransaction(gid);
  getBranches: TransactionStore['getBranches'] = (gid) => this.inner.getBranches(gid);
  getLogs: TransactionStore['getLogs'] = (gid) => this.inner.getLogs(gid);
  listTransactions: TransactionStore['listTransactions'] = (f) => this.inner.listTransactions(f);
  getTimeline: TransactionStore['getTimeline'] = (gid, max) => this.inner.getTimeline(gid, max);
  inFlightStats: TransactionStore['inFlightStats'] = (now) => this.inner.inFlightStats(now);
  findExpired: TransactionStore['findExpired'] = (now, limit) => this.inner.findExpired(now, limit);
  findDuePhaseTwo: TransactionStore['findDuePhaseTwo'] = (now, limit, full) => this.inner.findDuePhaseTwo(now, limit, full);
  purgeFinished: TransactionStore['purgeFinished'] = (before, limit) => this.inner.purgeFinished(before, limit);
  databaseTimeMs: TransactionStore['databaseTimeMs'] = () => this.inner.databaseTimeMs();
  ping: TransactionStore['ping'] = () => this.inner.ping();
  statementCount: TransactionStore['statementCount'] = () => this.inner.statementCount();
  queryCount: TransactionStore['queryCount'] = () => this.inner.queryCount();
  walSyncCount: TransactionStore['walSyncCount'] = () => this.inner.walSyncCount();
  close: TransactionStore['close'] = () => this.inner.close();
}

forEachBackend((backend) => {
  describe('a decision whose COMMIT answer is lost', function () {
    this.timeout(30_000);
    let participant: TestParticipant;
    let store: LostAckStore;
    let engine: TransactionEngine;

    before(async () => {
      participant = await startTestParticipant();
      store = new LostAckStore(await createTransactionStore({ url: backend.url }));
      // No recovery scheduler: whatever finishes these transactions is the deciding call itself.
      engine = new TransactionEngine({
        store,
        node: 'lost-ack',
        logger: pino({ level: 'silent' }),
        limits: {
          defaultTimeoutMs: 10_000,
          maxTimeoutMs: 60_000,
          branchTimeoutMs: 2_000,
          maxPayloadBytes: 65_536,
          maxBranches: 100,
          sweepIntervalMs: 1_000,
          maxWaitMs: 10_000,
        },
        retryPolicy: { initialMs: 50, maxMs: 300, multiplier: 2, jitter: 0.5 },
        recovery: { stuck: { attempts: 100, ageMs: 0 }, concurrencyPerTarget: 8 },
      });
    });
    after(async () => {
      await engine?.stop();
      await store?.close();
      await participant?.stop();
    });

    it('Commit answers the stored decision and runs phase two at once, not a claim lease (9 s) later', async () => {
      const txn = await engine.begin({ timeoutMs: 10_000 });
      await engine.tryBranch({ gid: txn.gid, branch: { branchId: 'b1', participant: participant.target, action: 'pay', payload: Buffer.alloc(0) } });
      store.nextDecision = 'after-commit';
      const answered = await engine.commit(txn.gid);
      expect(store.nextDecision, 'the acknowledgement was lost').to.equal('normal');
      expect(answered.txn.status).to.be.oneOf(['CONFIRMING', 'CONFIRMED']);
      const done = await pollUntil(() => engine.get(txn.gid), (v) => v.txn.status === 'CONFIRMED', 'CONFIRMED', 3_000);
      expect(done.logs.filter((l) => l.phase === 'decision')).to.have.length(1);
      expect(participant.callsFor('confirm', txn.gid)).to.have.length(1);
    });

    it('Execute answers the stored decision and runs phase two at once', async () => {
      store.nextDecision = 'after-commit';
      const answered = await engine.execute({ branches: [{ branchId: 'b1', participant: participant.target, action: 'pay', payload: Buffer.alloc(0) }] });
      expect(store.nextDecision, 'the acknowledgement was lost').to.equal('normal');
      expect(answered.txn.status).to.be.oneOf(['CONFIRMING', 'CONFIRMED']);
      await pollUntil(() => engine.get(answered.txn.gid), (v) => v.txn.status === 'CONFIRMED', 'CONFIRMED', 3_000);
      expect(participant.callsFor('confirm', answered.txn.gid)).to.have.length(1);
    });

    it('a decision write that never reached the server still fails the call; the transaction stays TRYING, nothing is called', async () => {
      const txn = await engine.begin({ timeoutMs: 10_000 });
      await engine.tryBranch({ gid: txn.gid, branch: { branchId: 'b1', participant: participant.target, action: 'pay', payload: Buffer.alloc(0) } });
      store.nextDecision = 'before-commit';
      let thrown: unknown;
      try {
        await engine.commit(txn.gid);
      } catch (err) {
        thrown = err;
      }
      expect(String(thrown)).to.match(/Connection lost/);
      const after = await engine.get(txn.gid);
      expect(after.txn.status).to.equal('TRYING');
      expect(participant.callsFor('confirm', txn.gid)).to.have.length(0);
      // The client's retried Commit then decides.
      await engine.commit(txn.gid);
      await pollUntil(() => engine.get(txn.gid), (v) => v.txn.status === 'CONFIRMED', 'CONFIRMED', 3_000);
    });
  });
});
