/**
 * deploy/: the Prometheus alerting rules pass `promtool check rules`, and the
 * rules and the Grafana dashboard only name metrics the coordinator exports.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createCoordinatorMetrics } from '../src/metrics/coordinator-metrics';

const ROOT = path.resolve(__dirname, '..', '..');
const ALERTS = path.join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
const DASHBOARD = path.join(ROOT, 'deploy', 'grafana', 'tcc-dashboard.json');

function hasCommand(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d !== '' && fs.existsSync(path.join(d, cmd)));
}

/** Every series name the coordinator exports (histograms with their _bucket/_sum/_count), plus Prometheus' own `up`. */
async function exportedNames(): Promise<Set<string>> {
  const m = createCoordinatorMetrics({ defaultMetrics: true });
  const names = new Set<string>(['up']);
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(metric.name + s);
    if (String(metric.type) === 'summary') for (const s of ['_sum', '_count']) names.add(metric.name + s);
  }
  return names;
}

/** Metric names used in PromQL expressions: tcc_*, process_*, nodejs_* and up. */
function namesIn(exprs: string[]): string[] {
  const found = new Set<string>();
  for (const e of exprs) for (const m of e.matchAll(/\b((?:tcc|process|nodejs)_[a-z0-9_]+|up)\b(?=\s*[{[)]|\s*$|\s*[=><!])/g)) found.add(m[1]);
  return [...found];
}

describe('deploy files', function () {
  this.timeout(30_000);

  it('deploy/prometheus/alerts.yml passes promtool check rules', async function () {
    if (!hasCommand('promtool')) {
      if (process.env.CI === 'true') expect.fail('promtool is not installed (Debian package prometheus; .ci/run installs it)');
      console.warn('    promtool not installed (apt-get install prometheus): SKIPPING the rules check');
      this.skip();
    }
    const { stdout } = await promisify(execFile)('promtool', ['check', 'rules', ALERTS]);
    expect(stdout).to.match(/SUCCESS: \d+ rules found/);
  });

  it('the alerts cover stuck transactions, backlog growth, participant error ratio, p99 latency and a coordinator down', function () {
    const text = fs.readFileSync(ALERTS, 'utf8');
    const exprs = [...text.matchAll(/expr: (\|\n(?: {10}.*\n)+|.*)/g)].map((m) => m[1]);
    expect(exprs.some((e) => e.includes('tcc_transactions_stuck'))).to.equal(true);
    expect(exprs.some((e) => e.includes('tcc_recovery_backlog') && e.includes('deriv('))).to.equal(true);
    expect(exprs.some((e) => e.includes('outcome="unknown"') && e.includes('/'))).to.equal(true);
    expect(exprs.some((e) => e.includes('histogram_quantile(0.99'))).to.equal(true);
    expect(exprs.some((e) => /\bup\{/.test(e))).to.equal(true);
  });

  it('alerts and the Grafana dashboard name only metrics the coordinator exports', async function () {
    const exported = await exportedNames();
    const alertExprs = [...fs.readFileSync(ALERTS, 'utf8').matchAll(/expr: (\|\n(?: {10}.*\n)+|.*)/g)].map((m) => m[1]);
    const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as {
      uid: string;
      panels: { title: string; targets: { expr: string }[] }[];
      templating: { list: { query: string }[] };
    };
    expect(dashboard.uid).to.equal('tcc-coordinator');
    const dashExprs = [
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...dashboard.templating.list.map((v) => v.query.replace(/^label_values\(([a-z0-9_]+),.*$/, '$1{}')),
    ];
    const used = namesIn([...alertExprs, ...dashExprs]);
    expect(used.length).to.be.greaterThan(10);
    const unknown = used.filter((n) => !exported.has(n));
    expect(unknown, 'names not exported').to.deep.equal([]);
    for (const name of ['tcc_participant_call_duration_seconds_bucket', 'tcc_transactions_in_flight', 'tcc_recovery_backlog', 'tcc_store_batch_commands_sum']) {
      expect(used, name).to.include(name);
    }
  });
});
