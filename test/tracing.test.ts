/**
 * OpenTelemetry: one transaction, run by a client in this process against a
 * coordinator and the two example participants (account, inventory) each in
 * its own process, all exporting over OTLP/HTTP to a receiver this test
 * runs, makes ONE trace: the client's span, the coordinator's call,
 * transaction and participant-call spans, and both participants' handler
 * spans, chained parent to child; ids as attributes, never payloads.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { context, propagation, trace } from '@opentelemetry/api';
import { expect } from 'chai';
import { TccClient } from '../src/client';
import { startTracing, type Tracing } from '../src/tracing/start-tracing';
import { deleteKeys } from '../participants/demo/demo-redis';
import { startServiceProcess, stopServiceProcess, type ServiceProcess } from '../participants/demo/service-process';
import type { RunningCoordinator } from '../src/coordinator';
import { createCoordinatorClient, pollUntil, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';
import { REDIS_URL, requireRedis } from './helpers/redis';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

interface ReceivedSpan extends OtlpSpan {
  service: string;
  attrs: Record<string, string>;
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

/** A minimal OTLP/HTTP traces receiver: POST /v1/traces with the JSON encoding. */
async function startReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; bodies: string[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) {
        res.writeHead(415).end();
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      bodies.push(body);
      const parsed = JSON.parse(body) as {
        resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const rs of parsed.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attrs: Record<string, string> = {};
            for (const a of s.attributes ?? []) attrs[a.key] = String(a.value.stringValue ?? a.value.intValue ?? '');
            spans.push({ ...s, service, attrs });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  // Exporters reuse connections: never close one under them between two batches.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('tracing: one trace across client, coordinator and both example participants', function () {
  this.timeout(120_000);
  const dist = path.resolve(__dirname, '..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-tracing-'));
  const keyPrefix = `tcc-tracing-${process.pid}-${Date.now()}:`;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  const processes: ServiceProcess[] = [];
  let clientTracing: Tracing | undefined;
  let client: TccClient | undefined;
  let addresses: { coordinator: string; account: string; inventory: string };

  before(async function () {
    await requireRedis(this);
    receiver = await startReceiver();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '200' };
    const base = { PATH: process.env.PATH ?? '', ...otel };
    const track = (s: ServiceProcess) => processes.push(s);
    const [coordinator, account, inventory] = await Promise.all([
      startServiceProcess({
        name: 'coordinator',
        command: process.execPath,
        args: [path.join(dist, 'src', 'main.js')],
        env: { ...base, TCC_GRPC_ADDR: '127.0.0.1:0', TCC_DB_URL: `sqlite:${path.join(dir, 'tcc.sqlite')}`, TCC_SHUTDOWN_GRACE_MS: '2000' },
        readyMessage: 'coordinator listening',
        onSpawn: track,
      }),
      startServiceProcess({
        name: 'account',
        command: process.execPath,
        args: [path.join(dist, 'participants', 'account', 'main.js')],
        env: { ...base, ACCOUNT_ADDR: '127.0.0.1:0', ACCOUNT_DB_URL: `sqlite:${path.join(dir, 'account.sqlite')}`, ACCOUNT_SEED: 'alice=10000,shop=0' },
        readyMessage: 'account service listening',
        onSpawn: track,
      }),
      startServiceProcess({
        name: 'inventory',
        command: process.execPath,
        args: [path.join(dist, 'participants', 'inventory', 'main.js')],
        env: { ...base, INVENTORY_ADDR: '127.0.0.1:0', INVENTORY_REDIS_URL: REDIS_URL, INVENTORY_KEY_PREFIX: keyPrefix, INVENTORY_SEED: 'widget=3' },
        readyMessage: 'inventory service listening',
        onSpawn: track,
      }),
    ]);
    addresses = { coordinator: coordinator.address, account: account.address, inventory: inventory.address };
    clientTracing = startTracing({ endpoint: `${receiver.url}/v1/traces`, serviceName: 'tcc-test-client' });
    client = new TccClient(addresses.coordinator);
  });

  after(async function () {
    client?.close();
    await clientTracing?.shutdown();
    // This process's tracing globals back to the no-op defaults, for the suites that run after this one.
    trace.disable();
    propagation.disable();
    context.disable();
    await Promise.all(processes.map((p) => stopServiceProcess(p)));
    await receiver?.close();
    await deleteKeys(REDIS_URL, keyPrefix).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('client span → coordinator call and transaction spans → participant-call spans → account and inventory handler spans', async function () {
    const tracer = trace.getTracer('tracing-test');
    let clientTraceId = '';
    let clientSpanId = '';
    const { gid } = await tracer.startActiveSpan('checkout', async (span) => {
      clientTraceId = span.spanContext().traceId;
      clientSpanId = span.spanContext().spanId;
      try {
        return await client!.transaction({ timeoutMs: 30_000 }, async (tx) => {
          await tx.try(addresses.account, 'debit', { account: 'alice', amount: 250 });
          await tx.try(addresses.inventory, 'reserve', { sku: 'widget', qty: 1 });
        });
      } finally {
        span.end();
      }
    });
    await pollUntil(() => client!.get(gid), (t) => t.status === 'CONFIRMED', 'the transaction to be CONFIRMED', 20_000, 100);
    await clientTracing!.shutdown();

    const inTrace = () => receiver!.spans.filter((s) => s.traceId === clientTraceId);
    const want = (s: ReceivedSpan[]) =>
      s.filter((x) => x.service === 'account' && x.name === 'tcc.v1.Participant/Confirm').length >= 1 &&
      s.filter((x) => x.service === 'inventory' && x.name === 'tcc.v1.Participant/Confirm').length >= 1 &&
      s.some((x) => x.service === 'tcc-coordinator' && x.name === 'tcc.v1.Coordinator/Commit') &&
      s.some((x) => x.service === 'tcc-coordinator' && x.name === 'tcc.transaction') &&
      s.some((x) => x.service === 'tcc-test-client');
    let spans: ReceivedSpan[];
    try {
      spans = await pollUntil(async () => inTrace(), want, 'all spans of the trace at the receiver', 30_000, 200);
    } catch (err) {
      const seen = receiver!.spans.map((s) => `${s.service} ${s.name} trace=${s.traceId === clientTraceId ? 'same' : s.traceId}`);
      throw new Error(`${err instanceof Error ? err.message.slice(0, 120) : String(err)}; received: ${seen.join(', ')}`);
    }

    const by = (service: string, name: string) => spans.filter((s) => s.service === service && s.name === name);
    const one = (service: string, name: string) => {
      const found = by(service, name);
      expect(found, `${service} ${name}`).to.have.length.of.at.least(1);
      return found[0];
    };
    const root = one('tcc-test-client', 'checkout');
    expect(root.spanId).to.equal(clientSpanId);

    // Coordinator: each call's server span is a child of the client's span.
    for (const m of ['Begin', 'Try', 'Commit']) {
      const s = one('tcc-coordinator', `tcc.v1.Coordinator/${m}`);
      expect(s.kind).to.equal(SPAN_KIND_SERVER);
      expect(s.parentSpanId, `${m} continues the client's context`).to.equal(clientSpanId);
    }
    expect(by('tcc-coordinator', 'tcc.v1.Coordinator/Try')).to.have.length(2);
    const commit = one('tcc-coordinator', 'tcc.v1.Coordinator/Commit');
    const txn = one('tcc-coordinator', 'tcc.transaction');
    expect(txn.parentSpanId).to.equal(commit.spanId);
    expect(txn.attrs['tcc.gid']).to.equal(gid);
    expect(txn.attrs['tcc.status']).to.match(/^CONFIRM/);

    // Participant calls: client spans of the coordinator, each parent of the participant's handler span.
    for (const service of ['account', 'inventory']) {
      for (const phase of ['Try', 'Confirm']) {
        const handler = one(service, `tcc.v1.Participant/${phase}`);
        expect(handler.kind).to.equal(SPAN_KIND_SERVER);
        expect(handler.attrs['tcc.gid']).to.equal(gid);
        const caller = spans.find((s) => s.spanId === handler.parentSpanId);
        expect(caller, `${service} ${phase}: its parent span is in the trace`).to.not.equal(undefined);
        expect(caller!.service).to.equal('tcc-coordinator');
        expect(caller!.name).to.equal(`tcc.v1.Participant/${phase}`);
        expect(caller!.kind).to.equal(SPAN_KIND_CLIENT);
        expect(caller!.attrs['tcc.gid']).to.equal(gid);
        expect(caller!.attrs['tcc.branch_id']).to.equal(handler.attrs['tcc.branch_id']);
        expect(caller!.attrs['tcc.participant']).to.equal(addresses[service as 'account' | 'inventory']);
        // The SDK serves Calls, so the coordinator's default transport is used, and the trace continues across it.
        expect(caller!.attrs['tcc.transport']).to.equal('stream');
        // Try: under the coordinator's Try call; Confirm: under the transaction span of Commit.
        const grand = spans.find((s) => s.spanId === caller!.parentSpanId);
        expect(grand?.name).to.equal(phase === 'Try' ? 'tcc.v1.Coordinator/Try' : 'tcc.transaction');
      }
    }

    // Never payloads: nothing exported carries the account name or the amounts.
    for (const body of receiver!.bodies) {
      expect(body).to.not.contain('alice');
      expect(body).to.not.contain('"amount"');
      expect(body).to.not.contain('widget');
    }
  });
});

describe('tracing: a recovery round gets a span of its own, parent of its participant calls', function () {
  this.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-tracing-recovery-'));
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  let tracing: Tracing | undefined;
  let coordinator: RunningCoordinator | undefined;
  let participant: TestParticipant | undefined;
  let client: TestCoordinatorClient | undefined;

  before(async function () {
    receiver = await startReceiver();
    tracing = startTracing({ endpoint: `${receiver.url}/v1/traces`, serviceName: 'tcc-coordinator' });
    participant = await startTestParticipant();
    coordinator = await startTestCoordinator({ name: 'sqlite', url: `sqlite:${path.join(dir, 'tcc.sqlite')}` });
    client = createCoordinatorClient(coordinator.address);
  });

  after(async function () {
    client?.close();
    await coordinator?.shutdown();
    await participant?.stop();
    await tracing?.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
    await receiver?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the retried Confirm hangs under tcc.recovery.round with the gid', async function () {
    participant!.setBehavior('confirm', 'unavailable', { action: 'flaky' });
    const { gid } = await client!.execute({ branches: [{ participant: participant!.target, action: 'flaky' }] });
    await participant!.waitForCalls((c) => c.phase === 'confirm' && c.gid === gid);
    participant!.setBehavior('confirm', 'ok', { action: 'flaky' });
    await pollUntil(() => client!.getTransaction({ gid }), (t) => t.status === 'CONFIRMED', 'CONFIRMED after the retry', 20_000, 50);
    await tracing!.shutdown();

    const rounds = receiver!.spans.filter((s) => s.name === 'tcc.recovery.round' && s.attrs['tcc.gid'] === gid);
    expect(rounds, 'a recovery round span').to.have.length.of.at.least(1);
    expect(rounds[0].parentSpanId ?? '', 'a root span').to.equal('');
    expect(rounds[0].attrs['tcc.phase']).to.equal('confirm');
    const retried = receiver!.spans.filter(
      (s) => s.name === 'tcc.v1.Participant/Confirm' && rounds.some((r) => r.spanId === s.parentSpanId && r.traceId === s.traceId),
    );
    expect(retried, 'Confirm calls under a round').to.have.length.of.at.least(1);
    expect(retried.some((s) => s.attrs['rpc.grpc.status_code'] === '0'), 'the successful retry').to.equal(true);
    // The participant received the round's context.
    const lastConfirm = participant!.callsFor('confirm', gid).at(-1);
    expect(lastConfirm?.traceparent?.split('-')[1]).to.equal(retried[0].traceId);
  });
});
