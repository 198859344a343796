import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { expect } from 'chai';
import { FileDescriptorProto, type IFileDescriptorProto } from 'protobufjs/ext/descriptor';
import { loadConfig } from '../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../src/coordinator';
import { createLogger } from '../src/log/logger';

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}
type ReflectionStream = grpc.ClientDuplexStream<object, ReflectionResponse>;
type ReflectionClient = grpc.Client & { ServerReflectionInfo(o: grpc.CallOptions): ReflectionStream };

/** A server-reflection client as grpcurl is one: v1, or the older v1alpha. */
function reflectionClient(version: 'v1' | 'v1alpha', address: string): ReflectionClient {
  const file = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto', 'grpc', 'reflection', version, 'reflection.proto');
  const loaded = grpc.loadPackageDefinition(protoLoader.loadSync(file, { keepCase: true })) as unknown as {
    grpc: { reflection: Record<string, { ServerReflection: new (t: string, c: grpc.ChannelCredentials) => ReflectionClient }> };
  };
  return new loaded.grpc.reflection[version].ServerReflection(address, grpc.credentials.createInsecure());
}

/** One request on the reflection stream, its one answer. */
function ask(client: ReflectionClient, request: object): Promise<ReflectionResponse> {
  return new Promise((resolve, reject) => {
    const stream = client.ServerReflectionInfo({ deadline: Date.now() + 10_000 });
    stream.once('data', (msg: ReflectionResponse) => {
      resolve(msg);
      stream.end();
    });
    stream.once('error', reject);
    stream.write(request);
  });
}

describe('server reflection tells the truth', function () {
  this.timeout(30_000);
  let dir: string;
  let coordinator: RunningCoordinator;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-reflection-'));
    const config = loadConfig({ TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}` });
    coordinator = await startCoordinator(config, { logger: createLogger({ level: 'silent' }) });
  });
  after(async () => {
    await coordinator.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const version of ['v1', 'v1alpha'] as const) {
    describe(`grpc.reflection.${version}`, () => {
      let client: ReflectionClient;
      before(() => (client = reflectionClient(version, coordinator.address)));
      after(() => client.close());

      it('lists Coordinator, Admin and grpc.health.v1.Health, and not tcc.v1.Participant (served by participants, not here)', async () => {
        const res = await ask(client, { list_services: '*' });
        const names = (res.list_services_response?.service ?? []).map((s) => s.name);
        expect(names).to.include.members(['tcc.v1.Coordinator', 'tcc.v1.Admin', 'grpc.health.v1.Health']);
        expect(names).not.to.include('tcc.v1.Participant');
      });

      it('describes grpc.health.v1.Health/Check (what grpcurl needs to call it without proto files)', async () => {
        const res = await ask(client, { file_containing_symbol: 'grpc.health.v1.Health' });
        expect(res.error_response, JSON.stringify(res.error_response)).to.equal(undefined);
        const files = (res.file_descriptor_response?.file_descriptor_proto ?? []).map(
          (bytes) => FileDescriptorProto.decode(bytes) as unknown as IFileDescriptorProto,
        );
        const health = files.find((f) => f.package === 'grpc.health.v1');
        const service = health?.service?.find((s) => s.name === 'Health');
        expect(service?.method?.map((m) => m.name)).to.include.members(['Check', 'Watch']);
        const check = service?.method?.find((m) => m.name === 'Check');
        expect(check?.inputType).to.match(/HealthCheckRequest$/);
        const request = health?.messageType?.find((m) => m.name === 'HealthCheckRequest');
        expect(request?.field?.map((f) => f.name)).to.deep.equal(['service']);
      });
    });
  }
});
