import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);

/** The repository root (this file runs from dist/test/). */
const ROOT = path.resolve(__dirname, '..', '..');

describe('package manifest, image and compose file', function () {
  this.timeout(180_000);

  it('npm install on a fresh clone leaves package-lock.json as committed (its root matches package.json)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-lockfile-'));
    try {
      for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
      // The lockfile step of `npm install`, without downloading or building the tree.
      await run('npm', ['install', '--package-lock-only', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir });
      const committed = fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8');
      const rewritten = fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8');
      expect(rewritten === committed, 'npm install rewrote package-lock.json: run `npm install` and commit the lockfile').to.equal(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('npm scripts that start a service exec it (the signal npm forwards reaches it) after an incremental build', () => {
    const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'demo', 'participant:account', 'participant:inventory', 'bench', 'chaos']) {
      // `start` runs the service through its shebang (the node flags live there), hence the chmod.
      expect(scripts[name], name).to.match(/^tsc -b tsconfig\.json && (chmod \+x dist\/\S+ && exec dist\/|exec node dist\/)/);
    }
  });

  it('the image compiles once and ships neither dist/test nor dist/bench', () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const instructions = dockerfile.split('\n').filter((l) => !l.trimStart().startsWith('#'));
    // `npm ci` runs "prepare", which builds: a second build would compile everything again.
    expect(instructions.filter((l) => /npm run build|\btsc\b/.test(l))).to.deep.equal([]);
    const copiesOfDist = instructions.filter((l) => /^COPY --from=build \/app\/dist/.test(l));
    expect(copiesOfDist.length).to.be.greaterThan(0);
    for (const l of copiesOfDist) expect(l).to.match(/\/app\/dist\/(src|migrations|participants) /);
  });

  it('compose builds one image and runs its three services from it', () => {
    const compose = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
    const lines = compose.split('\n').filter((l) => !l.trimStart().startsWith('#'));
    expect(lines.filter((l) => /^\s+build:/.test(l)), 'build: sections').to.have.length(1);
    const images = lines.filter((l) => /^\s+image:\s*tcc-coordinator:/.test(l)).map((l) => l.trim());
    expect(images).to.have.length(3);
    expect(new Set(images).size).to.equal(1);
    // The two that only run the image must not try to pull it from a registry.
    expect(lines.filter((l) => /^\s+pull_policy:\s*never\s*$/.test(l))).to.have.length(2);
  });
});
