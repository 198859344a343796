#!/usr/bin/env node
/**
 * `node dist/src/cli/health-probe.js [host:port] [service]`: exits 0 when
 * grpc.health.v1 answers SERVING, 1 otherwise. For container health checks.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

const target = process.argv[2] ?? '127.0.0.1:50051';
const service = process.argv[3] ?? '';
const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
const pkg = grpc.loadPackageDefinition(def) as unknown as {
  grpc: { health: { v1: { Health: new (t: string, c: grpc.ChannelCredentials) => grpc.Client & { check: grpc.requestCallback<unknown> extends never ? never : (req: object, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void) => void } } } };
};
const client = new pkg.grpc.health.v1.Health(target, grpc.credentials.createInsecure());
client.check({ service }, { deadline: Date.now() + 3_000 }, (err, res) => {
  const ok = !err && res?.status === 'SERVING';
  process.stdout.write(ok ? 'SERVING\n' : `not serving: ${err ? err.details || err.message : res?.status}\n`);
  process.exit(ok ? 0 : 1);
});
