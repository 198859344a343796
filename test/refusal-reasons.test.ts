import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { TccClient, TransactionRolledBackError } from '../src/client';
import { loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { PARTICIPANT_MESSAGE_MAX } from '../src/domain/state-machine';
import type { ParticipantHandlers } from '../src/generated/tcc/v1/Participant';
import { createLogger } from '../src/log/logger';
import { loadTccProto } from '../src/protocol/tcc-proto';
import { createCoordinatorClient, expectGrpcError, type TestCoordinatorClient } from './helpers/backends';

/** What the participant answers a Try of each action with: ABORTED and this message; other actions OK. */
const REFUSALS: Record<string, string> = {
  'book-seats': 'not enough free seats for show premiere',
  // A hostile or careless message: a forged log line, a bell, and far too long.
  noisy: `line one\n{"level":"fatal","msg":"forged"}\u0007\u0000 ${'x'.repeat(2_000)}`,
};

async function startRefusingParticipant(): Promise<{ target: string; server: grpc.Server }> {
  const server = new grpc.Server();
  const ok: grpc.handleUnaryCall<unknown, { result: Buffer }> = (_call, cb) => cb(null, { result: Buffer.alloc(0) });
  // Unary only (no Calls): the refusal text must survive the coordinator's fallback to unary too.
  const handlers: Pick<ParticipantHandlers, 'Try' | 'Confirm' | 'Cancel'> = {
    Try: (call, cb) => {
      const message = REFUSALS[call.request.action];
      if (message !== undefined) cb({ code: grpc.status.ABORTED, details: message });
      else cb(null, { result: Buffer.alloc(0) });
    },
    Confirm: ok,
    Cancel: ok,
  };
  server.addService(loadTccProto().grpcObject.tcc.v1.Participant.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { target: `127.0.0.1:${port}`, server };
}

/** No control characters, so a reason cannot break a log line or a terminal. */
function expectPrintable(text: string): void {
  const control = [...text].filter((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
  expect(control, JSON.stringify(text)).to.deep.equal([]);
}

describe('refusal reasons reach the client', function () {
  this.timeout(30_000);
  let dir: string;
  let coordinator: RunningCoordinator;
  let participant: { target: string; server: grpc.Server };
  let raw: TestCoordinatorClient;
  let sdk: TccClient;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-reasons-'));
    participant = await startRefusingParticipant();
    const config = loadConfig({ TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}` });
    coordinator = await startCoordinator(config, { logger: createLogger({ level: 'silent' }) });
    raw = createCoordinatorClient(coordinator.address);
    sdk = new TccClient(coordinator.address, { callTimeoutMs: 10_000 });
  });
  after(async () => {
    sdk.close();
    raw.close();
    await coordinator.shutdown();
    participant.server.forceShutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("Execute: ABORTED whose message and Transaction.reason name the branch and carry the participant's message", async () => {
    const gid = `reasons-execute-${process.pid}`;
    const err = await expectGrpcError(
      raw.execute({
        gid,
        branches: [
          { participant: participant.target, action: 'pay', payload: Buffer.from('{}'), branch_id: 'pay-1' },
          { participant: participant.target, action: 'book-seats', payload: Buffer.from('{"card":"SECRET-4242"}'), branch_id: 'seats-2' },
        ],
      }),
      grpc.status.ABORTED,
    );
    expect(err.details).to.include('branch seats-2').and.include('not enough free seats for show premiere');
    expect(err.details).not.to.include('SECRET-4242');
    const tx = await raw.getTransaction({ gid });
    expect(tx.reason).to.include('branch seats-2 (book-seats at ').and.include('not enough free seats for show premiere');
  });

  it('Commit after a refused Try: ABORTED with the same reason', async () => {
    const { gid } = await raw.begin({});
    await expectGrpcError(raw.try({ gid, branch: { participant: participant.target, action: 'book-seats', branch_id: 'b1' } }), grpc.status.ABORTED);
    const err = await expectGrpcError(raw.commit({ gid }), grpc.status.ABORTED);
    expect(err.details).to.include('branch b1').and.include('not enough free seats for show premiere');
  });

  it("the client SDK's transaction(): TransactionRolledBackError.reason gives the refused branch and its message", async () => {
    const err = await sdk
      .transaction({}, async (tx) => {
        await tx.try(participant.target, 'pay', { amount: 1 });
        await tx.try(participant.target, 'book-seats', { show: 'premiere', seats: 2 }, { branchId: 'seats' });
      })
      .then(
        () => expect.fail('the transaction committed'),
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(TransactionRolledBackError);
    const reason = (err as TransactionRolledBackError).reason;
    expect(reason).to.include('branch seats').and.include('not enough free seats for show premiere');
  });

  it("the client SDK's execute(): the same", async () => {
    const err = await sdk
      .execute({ branches: [{ participant: participant.target, action: 'book-seats', payload: { seats: 2 } }] })
      .then(
        () => expect.fail('the transaction committed'),
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(TransactionRolledBackError);
    expect((err as TransactionRolledBackError).reason).to.include('not enough free seats for show premiere');
  });

  it("bounds and sanitizes the participant's message: printable, one line, at most a few hundred characters of it", async () => {
    const gid = `reasons-noisy-${process.pid}`;
    const err = await expectGrpcError(
      raw.execute({ gid, branches: [{ participant: participant.target, action: 'noisy', payload: Buffer.from('{}') }] }),
      grpc.status.ABORTED,
    );
    const tx = await raw.getTransaction({ gid });
    for (const text of [err.details, tx.reason]) {
      expectPrintable(text);
      expect(text).to.include('line one {"level":"fatal","msg":"forged"}');
      expect(text.length).to.be.at.most(PARTICIPANT_MESSAGE_MAX + 200);
      // ...and keeps up to PARTICIPANT_MESSAGE_MAX characters of it (the README's figure), not fewer.
      expect(text).to.include('x'.repeat(PARTICIPANT_MESSAGE_MAX - 100));
    }
    // The Try's own ABORTED (Coordinator.Try) is bounded the same way.
    const { gid: g2 } = await raw.begin({});
    const tryErr = await expectGrpcError(raw.try({ gid: g2, branch: { participant: participant.target, action: 'noisy' } }), grpc.status.ABORTED);
    expectPrintable(tryErr.details);
    expect(tryErr.details.length).to.be.at.most(PARTICIPANT_MESSAGE_MAX + 200);
  });
});
