import { expect } from 'chai';
import { MetricsRegistry } from '../src/metrics/metrics-registry';
import { startMetricsServer } from '../src/metrics/metrics-server';

describe('metrics: registry and /metrics endpoint', function () {
  it('renders counters and gauges in the Prometheus text format, labels escaped', function () {
    const r = new MetricsRegistry();
    const calls = r.counter('tcc_test_calls_total', 'Calls.', ['phase', 'outcome']);
    const plain = r.counter('tcc_test_plain_total', 'Plain.');
    const g = r.gauge('tcc_test_in_flight', 'In flight.');
    calls.inc({ phase: 'confirm', outcome: 'ok' });
    calls.inc({ phase: 'confirm', outcome: 'ok' }, 2);
    calls.inc({ phase: 'cancel', outcome: 'say "hi"\n' });
    g.inc();
    g.inc();
    g.dec();
    const text = r.render();
    expect(text).to.contain('# TYPE tcc_test_calls_total counter');
    expect(text).to.contain('tcc_test_calls_total{phase="confirm",outcome="ok"} 3');
    expect(text).to.contain('tcc_test_calls_total{phase="cancel",outcome="say \\"hi\\"\\n"} 1');
    expect(text, 'an untouched unlabelled counter shows 0').to.contain('tcc_test_plain_total 0');
    expect(text).to.contain('# HELP tcc_test_in_flight In flight.\n# TYPE tcc_test_in_flight gauge');
    expect(text.split('\n')).to.include('tcc_test_in_flight 1');
    expect(() => plain.inc({}, -1)).to.throw(/cannot decrease/);
  });

  it('serves GET /metrics as text/plain and 404 elsewhere', async function () {
    const r = new MetricsRegistry();
    r.counter('tcc_test_total', 'Test.').inc();
    const server = await startMetricsServer(r, '127.0.0.1:0');
    try {
      const res = await fetch(`http://${server.address}/metrics`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
      expect(await res.text()).to.contain('tcc_test_total 1');
      expect((await fetch(`http://${server.address}/`)).status).to.equal(404);
      expect((await fetch(`http://${server.address}/metrics`, { method: 'POST' })).status).to.equal(404);
    } finally {
      await server.close();
    }
  });
});
