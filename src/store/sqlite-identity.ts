import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Knex } from 'knex';
import { DatabaseStartRefusedError } from './store-errors';

/** The one-row table holding the database's id; also what the health probe writes to. */
export const IDENTITY_TABLE = 'tcc_database_identity';

/**
 * The marker file next to the database, naming the id of the database that
 * belongs at that path. Hidden and not prefixed by the database's name, so
 * `rm data/tcc.sqlite*` (the file with its -wal and -shm) leaves it behind
 * to say that a database existed.
 */
export function markerPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tcc-id`);
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function readMarker(marker: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(marker, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw err;
  }
  // A damaged marker still says a database existed here: it is a mismatch, never "fresh".
  return text.trim();
}

/** Written to a temporary file, fsynced and renamed, then the directory fsynced: a crash leaves the old marker or the new one. */
function writeMarker(marker: string, id: string): void {
  const tmp = `${marker}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, `${id}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, marker);
  const dir = fs.openSync(path.dirname(marker), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

/** The database file is absent or empty (SQLite would open either as a new, empty database). */
export function isMissingOrEmpty(file: string): boolean {
  const s = fs.statSync(file, { throwIfNoEntry: false });
  return s === undefined || s.size === 0;
}

function refusal(file: string, marker: string, expected: string, found: string): DatabaseStartRefusedError {
  return new DatabaseStartRefusedError(
    `refusing to start: ${found}, but ${marker} says the database ${expected} was here. ` +
      'The transactions it recorded (decisions still to be confirmed or cancelled) are only in that database: restore it ' +
      `(the file with its -wal file) to ${file} and start again. Only if it is lost for good, start once with ` +
      'TCC_DB_INITIALIZE=true to use the database now at that path (a new, empty one if there is none); ' +
      'transactions recorded in the lost one will then never be finished by this coordinator.',
  );
}

/**
 * Checked before the database file is opened: a marker whose database file
 * is missing or empty refuses the start (opening it would create an empty
 * database and the start would look like a first one). With `initialize`
 * every check is waived.
 */
export function checkBeforeOpen(file: string, initialize: boolean): void {
  const marker = markerPathFor(file);
  const expected = readMarker(marker);
  if (expected === undefined || initialize) return;
  if (isMissingOrEmpty(file)) throw refusal(file, marker, expected, `the database file ${file} is missing or empty`);
}

async function identityTableExists(knex: Knex): Promise<boolean> {
  const rows = (await knex.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", [IDENTITY_TABLE])) as unknown[];
  return rows.length > 0;
}

async function storedId(knex: Knex): Promise<string | undefined> {
  if (!(await identityTableExists(knex))) return undefined;
  const row = await knex<{ id: string }>(IDENTITY_TABLE).first('id');
  return row?.id;
}

/** Checked once the file is open, before migrating: its id must be the marker's. */
export async function checkOpened(knex: Knex, file: string, initialize: boolean): Promise<void> {
  const marker = markerPathFor(file);
  const expected = readMarker(marker);
  if (expected === undefined || initialize) return;
  const id = await storedId(knex);
  if (id === expected) return;
  throw refusal(file, marker, expected, id === undefined ? `${file} holds no coordinator database id` : `${file} holds another database (${id})`);
}

/**
 * After migrating: gives a database without an id one (a first start, or a
 * database from before ids existed), then makes the marker name it. The id
 * is committed before the marker is written, so a crash in between leaves
 * a database whose id the next start adopts.
 */
export async function recordIdentity(knex: Knex, file: string): Promise<string> {
  await knex.raw(`CREATE TABLE IF NOT EXISTS ${IDENTITY_TABLE} (id TEXT NOT NULL PRIMARY KEY, created_at INTEGER NOT NULL, probed_at INTEGER)`);
  let id = await storedId(knex);
  if (id === undefined) {
    const fresh = randomUUID();
    await knex(IDENTITY_TABLE).insert({ id: fresh, created_at: Date.now() });
    id = fresh;
  }
  if (!ID.test(id)) throw new DatabaseStartRefusedError(`refusing to start: ${IDENTITY_TABLE} in ${file} holds a malformed id`);
  const marker = markerPathFor(file);
  if (readMarker(marker) !== id) writeMarker(marker, id);
  return id;
}
