import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';

/** The repository root (this file runs from dist/test/). */
const ROOT = path.resolve(__dirname, '..', '..');
const BENCH = path.join(ROOT, 'dist', 'bench', 'run.js');
const TRACKED_RESULTS = path.join(ROOT, 'bench', 'RESULTS.md');
/** The smallest real run: one scenario on SQLite, half a second. */
const TINY_RUN = ['--seconds', '0.5', '--warmup', '0', '--db', 'sqlite', '--wait', 'false', '--concurrency', '2', '--drain-seconds', '20'];

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BENCH, ...args], { cwd: ROOT, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('bench command line', function () {
  this.timeout(180_000);

  it('--help answers on stdout with every option, exit 0', async () => {
    const { code, stdout } = await bench(['--help']);
    expect(code).to.equal(0);
    for (const option of ['--seconds', '--concurrency', '--db', '--wait', '--mysql-url', '--write', '--results', '--profile', '--transport', '--rounds']) {
      expect(stdout).to.include(option);
    }
  });

  it('an unknown argument: exit 2, naming it', async () => {
    const { code, stderr } = await bench(['--frobnicate']);
    expect(code).to.equal(2);
    expect(stderr).to.include('unknown argument --frobnicate');
  });

  it('--rounds must be a whole number of rounds from 1: exit 2 otherwise', async () => {
    const { code, stderr } = await bench(['--rounds', '0', '--plan']);
    expect(code).to.equal(2);
    expect(stderr).to.include('--rounds must be a number in [1, 50]');
  });

  it('--rounds N runs the whole matrix N times in a row and gives each scenario its median and range over them', async () => {
    const plan = await bench([...TINY_RUN, '--rounds', '3', '--plan']);
    expect(plan.code, plan.stderr).to.equal(0);
    const planned = plan.stdout.split('\n').filter((l) => /^\d+\. /.test(l)).map((l) => l.replace(/^\d+\. /, '').replace(/ \(~\d+ s\)$/, ''));
    const round = (k: number) => planned.filter((l) => l.endsWith(`(round ${k})`)).map((l) => l.replace(/ \(round \d\)$/, ''));
    expect(round(1)).to.have.length.above(2); // baselines around the coordinator scenarios
    expect(planned).to.have.length(3 * round(1).length);
    expect(round(2), 'round 2 repeats round 1').to.deep.equal(round(1));
    expect(round(3), 'round 3 repeats round 1').to.deep.equal(round(1));
    expect(planned.slice(0, round(1).length).every((l) => l.endsWith('(round 1)')), 'rounds run one after another').to.equal(true);

    const run = await bench([...TINY_RUN, '--transport', 'stream', '--rounds', '3']);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include('Over 3 rounds');
    // Every round's row of the coordinator scenario, from the full table: tx/s and ratio.
    const rows = run.stdout.split('\n').filter((l) => /^\| \d+ \| execute wait=false \| sqlite \| stream \| 2 \| 2 \|/.test(l));
    expect(rows, 'one row per round').to.have.length(3);
    const cells = rows.map((l) => l.split('|').map((c) => c.trim()));
    const tx = cells.map((c) => c[7].replace(/\*/g, '')).sort((a, b) => Number(a) - Number(b));
    const ratio = cells.map((c) => Number(c[18])).sort((a, b) => a - b);
    const summary = run.stdout.split('\n').find((l) => l.startsWith('| execute wait=false | sqlite | stream | 2 | 2 | 3 |'));
    expect(summary, 'the scenario in the rounds table').to.be.a('string');
    const s = summary!.split('|').map((c) => c.trim());
    // Median (the middle of three, not the mean) and range, as the full table prints them.
    expect(s[7]).to.equal(`**${tx[1]} (${tx[0]}–${tx[2]})**`);
    expect(s[8]).to.equal(`${ratio[1].toFixed(3)} (${ratio[0].toFixed(3)}–${ratio[2].toFixed(3)})`);
    const baseline = run.stdout.split('\n').find((l) => l.startsWith('| baseline | - | unary, no coordinator | 2 | 2 | 6 |'));
    expect(baseline, 'the baseline, two per round, in the rounds table').to.be.a('string');
  });

  it('leaves the tracked bench/RESULTS.md alone unless asked; --results FILE writes there', async () => {
    const before = fs.readFileSync(TRACKED_RESULTS);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-bench-cli-'));
    try {
      const plain = await bench(TINY_RUN);
      expect(plain.code, plain.stderr).to.equal(0);
      expect(plain.stdout).to.include('| sqlite |');
      expect(fs.readFileSync(TRACKED_RESULTS).equals(before), 'bench/RESULTS.md was changed by a run without --write').to.equal(true);

      const file = path.join(dir, 'results.md');
      const written = await bench([...TINY_RUN, '--results', file]);
      expect(written.code, written.stderr).to.equal(0);
      expect(fs.readFileSync(file, 'utf8')).to.include('| sqlite |');
    } finally {
      // Whatever happened, the tracked file is as it was.
      fs.writeFileSync(TRACKED_RESULTS, before);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
