/**
 * The minimal participant README.md shows ("Writing a participant"):
 * participants/minimal/minimal-participant.ts. The README's code block must be
 * that file (minus its two-line header), so the snippet compiles (tsc builds
 * the file, through the package's own 'tcc-coordinator/participant' export)
 * and works (a real coordinator drives it below) or this test fails.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { BranchRefusedError, TccClient, TransactionRolledBackError, type TransactionInfo } from '../src/client';
import type { RunningCoordinator } from '../src/coordinator';
import type { ParticipantServer } from '../src/participant';
import { startSeats } from '../participants/minimal/minimal-participant';
import { pollUntil, startTestCoordinator } from './helpers/backends';

const ROOT = path.resolve(__dirname, '..', '..');
const SOURCE = path.join(ROOT, 'participants', 'minimal', 'minimal-participant.ts');
const README = path.join(ROOT, 'README.md');
/** The file's header comment (saying that the README copies it) is not part of the copy. */
const HEADER_LINES = 2;

describe('the minimal participant of README.md ("Writing a participant")', function () {
  this.timeout(30_000);

  it('README.md shows participants/minimal/minimal-participant.ts exactly, in under 40 lines', () => {
    const readme = fs.readFileSync(README, 'utf8');
    const start = readme.indexOf('\n## Writing a participant\n');
    expect(start, 'README.md has a "## Writing a participant" section').to.be.at.least(0);
    const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(start))?.[1];
    expect(block, 'a ```ts block in that section').to.be.a('string');
    const code = fs.readFileSync(SOURCE, 'utf8').split('\n').slice(HEADER_LINES).join('\n');
    expect(block, 'README.md and participants/minimal/minimal-participant.ts differ: change both together').to.equal(code);
    expect(code.trimEnd().split('\n').length).to.be.below(40);
  });

  describe('behind a real coordinator', () => {
    let dir: string;
    let coordinator: RunningCoordinator | undefined;
    let seats: { knex: Knex; server: ParticipantServer<Knex.Transaction>; address: string } | undefined;
    let tcc: TccClient;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-minimal-'));
      coordinator = await startTestCoordinator({ name: 'sqlite', url: `sqlite:${path.join(dir, 'tcc.sqlite')}` });
      seats = await startSeats(path.join(dir, 'seats.sqlite'), '127.0.0.1:0');
      // The snippet seeds its one show, so a newcomer's first booking succeeds.
      expect(await seats.knex('shows').select('free', 'held', 'sold').where({ id: 'premiere' }).first()).to.deep.equal({ free: 10, held: 0, sold: 0 });
      tcc = new TccClient(coordinator.address);
    });

    after(async () => {
      tcc?.close();
      await seats?.server.shutdown();
      await seats?.knex.destroy();
      await coordinator?.shutdown();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const show = async () => (await seats!.knex('shows').select('free', 'held', 'sold').where({ id: 'premiere' }).first()) as unknown;
    const finished = (gid: string) =>
      pollUntil(
        () => tcc.get(gid),
        (t: TransactionInfo) => t.status === 'CONFIRMED' || t.status === 'CANCELLED',
        `transaction ${gid} to finish`,
        10_000,
      );

    it('holds seats at Try (answering its result) and sells them at Confirm', async () => {
      const { gid, value } = await tcc.transaction({}, async (tx) => {
        const { result } = await tx.try(seats!.address, 'book', { show: 'premiere', seats: 3 });
        expect(await show()).to.deep.equal({ free: 7, held: 3, sold: 0 });
        return result.toString('utf8');
      });
      expect(value).to.equal('{"held":3}');
      expect((await finished(gid)).status).to.equal('CONFIRMED');
      expect(await show()).to.deep.equal({ free: 7, held: 0, sold: 3 });
    });

    it('refuses more seats than are free, and frees held seats when the transaction rolls back', async () => {
      let gid = '';
      try {
        await tcc.transaction({}, async (tx) => {
          gid = tx.gid;
          await tx.try(seats!.address, 'book', { show: 'premiere', seats: 2 });
          await tx.try(seats!.address, 'book', { show: 'premiere', seats: 6 }); // 5 left after the first
        });
        expect.fail('the transaction committed');
      } catch (err) {
        expect(err).to.be.instanceOf(TransactionRolledBackError);
        expect((err as TransactionRolledBackError).cause).to.be.instanceOf(BranchRefusedError);
        expect(((err as TransactionRolledBackError).cause as BranchRefusedError).reason).to.contain('not enough free seats');
      }
      expect((await finished(gid)).status).to.equal('CANCELLED');
      expect(await show()).to.deep.equal({ free: 7, held: 0, sold: 3 });
    });

    it('refuses a malformed payload', async () => {
      const { gid } = await tcc.begin();
      try {
        await tcc.try(gid, { participant: seats!.address, action: 'book', payload: { show: 'premiere', seats: -1 } });
        expect.fail('the Try succeeded');
      } catch (err) {
        expect(err).to.be.instanceOf(BranchRefusedError);
        expect((err as BranchRefusedError).reason).to.contain('expected {"show": string, "seats": integer >= 1}');
      }
      await tcc.rollback(gid);
      expect(await show()).to.deep.equal({ free: 7, held: 0, sold: 3 });
    });
  });
});
