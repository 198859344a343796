// README.md ("Writing a participant") copies everything below this comment, and
// test/minimal-participant.test.ts fails when the two differ: change both together.
import knexFactory, { type Knex } from 'knex';
import { InvalidPayloadError, migrateBarrierSchema, ParticipantServer, SqlBarrier, TryRefusedError } from 'tcc-coordinator/participant';
import type { ActionHandlers, BranchCall } from 'tcc-coordinator/participant';

function seatsOf(call: BranchCall): { show: string; seats: number } {
  const { show, seats } = call.json<{ show?: unknown; seats?: unknown } | null>() ?? {}; // {"show":"premiere","seats":2}
  if (typeof show === 'string' && typeof seats === 'number' && Number.isSafeInteger(seats) && seats > 0) return { show, seats };
  throw new InvalidPayloadError(call.action, 'expected {"show": string, "seats": integer >= 1}');
}

export const book: ActionHandlers<Knex.Transaction> = {
  async try(tx, call) { // hold the seats if that many are free; `tx` is the barrier's local transaction
    const { show, seats } = seatsOf(call);
    const held = await tx('shows').where({ id: show }).andWhere('free', '>=', seats)
      .update({ free: tx.raw('free - ?', [seats]), held: tx.raw('held + ?', [seats]) });
    if (held !== 1) throw new TryRefusedError('not enough free seats'); // a definite "no": ABORTED
    return { held: seats }; // the Try's result, handed back to the client
  },
  async confirm(tx, call) { // sell the held seats
    const { show, seats } = seatsOf(call);
    await tx('shows').where({ id: show }).update({ held: tx.raw('held - ?', [seats]), sold: tx.raw('sold + ?', [seats]) });
  },
  async cancel(tx, call) { // free them again
    const { show, seats } = seatsOf(call);
    await tx('shows').where({ id: show }).update({ held: tx.raw('held - ?', [seats]), free: tx.raw('free + ?', [seats]) });
  },
};

export async function startSeats(file: string, address: string) {
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
  await migrateBarrierSchema(knex); // the barrier's table, in this service's own database
  await knex.raw('CREATE TABLE IF NOT EXISTS shows (id TEXT PRIMARY KEY, free INT NOT NULL, held INT DEFAULT 0, sold INT DEFAULT 0)');
  await knex.raw("INSERT OR IGNORE INTO shows (id, free) VALUES ('premiere', 10)"); // something to book
  const server = new ParticipantServer({ barrier: new SqlBarrier(knex), actions: { book } });
  return { knex, server, address: await server.listen(address) };
}

if (require.main === module) void startSeats('seats.sqlite', '127.0.0.1:50070').then((s) => console.log(`serving on ${s.address}`));
