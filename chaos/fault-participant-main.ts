#!/usr/bin/env node
/**
 * `node dist/chaos/fault-participant-main.js <address> <sqlite-file> <hang-ms>`:
 * the fault participant as its own process, so the chaos runner can SIGKILL it.
 * Prints one JSON line `{"msg":"fault participant listening",...}` once serving.
 */
import { startFaultParticipant } from './fault-participant';

const [address, file, hangMs] = process.argv.slice(2);
if (!address || !file || !/^\d+$/.test(hangMs ?? '')) {
  console.error('usage: fault-participant-main.js <host:port> <sqlite-file> <hang-ms>');
  process.exit(2);
}
startFaultParticipant(file, address, Number(hangMs)).then(
  (s) => console.log(JSON.stringify({ msg: 'fault participant listening', address: s.address })),
  (err: unknown) => {
    console.error(`fault participant failed to start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
