/**
 * The transaction console in a real headless Chromium (Debian package
 * chromium, driven by playwright-core; no downloaded browser) against a
 * running coordinator and a real participant: login with the admin token
 * (kept in an HttpOnly session cookie, never in a URL), the list with a
 * committed and a rolled-back transaction and the status filter, and the
 * live timeline of a transaction whose Confirm fails and is retried. No
 * token, no data. The screenshot is saved under test-artifacts/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { RunningCoordinator } from '../src/coordinator';
import { createCoordinatorClient, forEachBackend, startTestCoordinator, type TestCoordinatorClient } from './helpers/backends';
import { startTestParticipant, type TestParticipant } from './helpers/test-participant';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'console-test-admin-token-0123456789';
/** What the page scripts see of an element (the DOM types are not in this project's lib). */
interface DomElement {
  getAttribute(name: string): string | null;
}

const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts');

forEachBackend((backend) => {
  describe('console: in a headless browser', function () {
    this.timeout(120_000);
    let coordinator: RunningCoordinator | undefined;
    let participant: TestParticipant | undefined;
    let client: TestCoordinatorClient | undefined;
    let browser: Browser | undefined;
    let base: string;
    const gids = { committed: '', rolledBack: '', retried: '' };

    before(async function () {
      if (!fs.existsSync(CHROMIUM)) {
        if (process.env.CI === 'true') expect.fail(`${CHROMIUM} is not installed (Debian package chromium; .ci/run installs it)`);
        console.warn(`    ${CHROMIUM} not installed (apt-get install chromium): SKIPPING the console browser test`);
        this.skip();
      }
      participant = await startTestParticipant();
      coordinator = await startTestCoordinator(backend, {
        TCC_ADMIN_TOKEN: TOKEN,
        TCC_METRICS_ADDR: '127.0.0.1:0',
        // Retries a second apart: the failed Confirm stays on screen before the next one.
        TCC_RETRY_INITIAL_MS: '1000',
        TCC_RETRY_MAX_MS: '2000',
      });
      base = `http://${coordinator.metricsAddress}`;
      client = createCoordinatorClient(coordinator.address);
      const target = participant.target;
      participant.setBehavior('try', 'refuse', { action: 'no-stock' });
      participant.setBehavior('confirm', 'unavailable', { action: 'flaky' });
      const run = `console-${backend.name}-${Date.now().toString(36)}`;
      gids.committed = (await client.execute({ gid: `${run}-committed`, branches: [{ participant: target, action: 'pay' }], wait: true })).gid;
      gids.rolledBack = `${run}-rolled-back`;
      await client
        .execute({ gid: gids.rolledBack, branches: [{ participant: target, action: 'pay' }, { participant: target, action: 'no-stock' }], wait: true })
        .catch(() => undefined);
      gids.retried = (
        await client.execute({ gid: `${run}-retried`, branches: [{ participant: target, action: 'flaky' }, { participant: target, action: 'pay' }] })
      ).gid;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    });

    after(async function () {
      await browser?.close();
      client?.close();
      await coordinator?.shutdown();
      await participant?.stop();
    });

    it('no token, no data: the API answers 401, the page is only the login form, a wrong token is refused', async function () {
      const context = await browser!.newContext();
      try {
        const api = await context.request.get(`${base}/console/api/transactions`);
        expect(api.status()).to.equal(401);
        const body = await api.text();
        expect(body).to.not.contain(gids.committed);
        const detail = await context.request.get(`${base}/console/api/transactions/${gids.committed}`);
        expect(detail.status()).to.equal(401);
        expect(await detail.text()).to.not.contain('CONFIRMED');

        const page = await context.newPage();
        await page.goto(`${base}/console`);
        expect(await page.locator('form#login').count()).to.equal(1);
        expect(await page.content()).to.not.contain(gids.committed);
        await page.fill('#token', 'not-the-admin-token-at-all');
        await page.click('button[type=submit]');
        await page.waitForSelector('#login-error');
        expect(await page.content()).to.not.contain(gids.committed);
        expect((await context.request.get(`${base}/console/api/transactions`)).status()).to.equal(401);
      } finally {
        await context.close();
      }
    });

    it('after login: the list shows a committed and a rolled-back transaction, the status filter works; the token is in no URL', async function () {
      const context = await browser!.newContext();
      try {
        const page = await login(context);
        expect(page.url()).to.equal(`${base}/console`);
        const cookies = await context.cookies();
        const session = cookies.find((c) => c.name === 'tcc_console');
        expect(session?.httpOnly).to.equal(true);
        expect(session?.value).to.not.contain(TOKEN);
        await page.waitForSelector(`#transactions tr[data-gid="${gids.committed}"][data-status="CONFIRMED"]`);
        await page.waitForSelector(`#transactions tr[data-gid="${gids.rolledBack}"][data-status="CANCELLED"]`);

        await page.check('input[name=status][value=CANCELLED]');
        await page.click('#filters button[type=submit]');
        await page.waitForSelector(`#transactions tr[data-gid="${gids.committed}"]`, { state: 'detached' });
        expect(await page.locator(`#transactions tr[data-gid="${gids.rolledBack}"]`).count()).to.equal(1);
        const statuses = await page.locator('#transactions tbody tr').evaluateAll((rows: DomElement[]) => rows.map((r) => r.getAttribute('data-status')));
        expect(new Set(statuses)).to.deep.equal(new Set(['CANCELLED']));

        await page.click('#logout');
        await page.waitForSelector('form#login');
        expect((await context.request.get(`${base}/console/api/transactions`)).status(), 'logged out').to.equal(401);
      } finally {
        await context.close();
      }
    });

    it('the timeline draws a lane per branch and a bar per call, live: the failed Confirm, then the successful retry, and the decision', async function () {
      const context = await browser!.newContext({ viewport: { width: 1100, height: 900 } });
      try {
        const page = await login(context);
        await page.click(`#transactions tr[data-gid="${gids.retried}"]`);
        await page.waitForSelector('#timeline-svg');
        expect(await page.locator('#timeline-svg g.lane').count()).to.equal(2);
        await page.waitForSelector('#timeline-svg g.decision[data-decision="commit"]');
        await page.waitForSelector('rect.bar[data-branch="1"][data-phase="confirm"][data-outcome="failed"]');
        expect(await page.locator('rect.bar[data-branch="1"][data-phase="try"][data-outcome="ok"]').count()).to.equal(1);
        expect(await page.locator('rect.bar[data-branch="2"][data-phase="confirm"][data-outcome="ok"]').count()).to.equal(1);
        expect(await page.locator('rect.bar[data-branch="1"][data-phase="confirm"][data-outcome="ok"]').count(), 'not yet').to.equal(0);

        // The participant recovers; the page, not reloaded, shows the successful retry.
        participant!.setBehavior('confirm', 'ok', { action: 'flaky' });
        await page.waitForSelector('rect.bar[data-branch="1"][data-phase="confirm"][data-outcome="ok"]', { timeout: 30_000 });
        await page.waitForSelector('#detail-status[data-status="CONFIRMED"]', { timeout: 30_000 });
        const failed = await page.locator('rect.bar[data-branch="1"][data-phase="confirm"][data-outcome="failed"]').count();
        expect(failed).to.be.at.least(1);
        const fills = await page.locator('rect.bar[data-branch="1"][data-phase="confirm"]').evaluateAll((bars: DomElement[]) => bars.map((b) => b.getAttribute('fill')));
        expect(new Set(fills).size, 'failed and ok bars in different colours').to.equal(2);

        fs.mkdirSync(ARTIFACTS, { recursive: true });
        const file = path.join(ARTIFACTS, `console-timeline-${backend.name}.png`);
        await page.screenshot({ path: file, fullPage: true });
        expect(fs.statSync(file).size).to.be.greaterThan(10_000);
      } finally {
        await context.close();
      }
    });

    it('the JSON routes: filters as the Admin API has them, bad input is a 400 naming the field, no payloads', async function () {
      const form = new URLSearchParams({ token: TOKEN });
      const res = await fetch(`${base}/console/login`, { method: 'POST', body: form, redirect: 'manual' });
      expect(res.status).to.equal(303);
      expect(res.headers.get('location')).to.equal('/console');
      const cookie = /tcc_console=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0] ?? '';
      expect(cookie).to.not.equal('');
      const get = (p: string) => fetch(`${base}${p}`, { headers: { cookie } });
      const list = async (q: string) => ((await (await get(`/console/api/transactions?${q}`)).json()) as { transactions: { gid: string }[] }).transactions.map((t) => t.gid);

      expect(await list(`participant=${encodeURIComponent(participant!.target)}`)).to.include.members([gids.committed, gids.rolledBack, gids.retried]);
      expect(await list('participant=127.0.0.1%3A1')).to.deep.equal([]);
      expect(await list('stuck=1')).to.not.include(gids.committed);
      expect(await list('older_than_ms=3600000')).to.not.include(gids.committed);
      const firstPage = (await (await get('/console/api/transactions?limit=1')).json()) as { transactions: unknown[]; nextPageToken: string };
      expect(firstPage.transactions).to.have.length(1);
      expect(firstPage.nextPageToken).to.not.equal('');
      expect(await list(`limit=500&page_token=${firstPage.nextPageToken}`)).to.not.include((firstPage.transactions[0] as { gid: string }).gid);

      for (const [q, field] of [
        ['status=DONE', 'status'],
        ['limit=501', 'limit'],
        ['older_than_ms=-1', 'older_than_ms'],
        ['participant=bad%20target', 'participant'],
      ]) {
        const r = await get(`/console/api/transactions?${q}`);
        expect(r.status, q).to.equal(400);
        expect(((await r.json()) as { error: string }).error).to.contain(field);
      }
      expect((await get('/console/api/transactions/%E0%A4%A')).status).to.equal(400);
      expect((await get('/console/api/transactions/no-such-gid')).status).to.equal(404);
      const detail = await (await get(`/console/api/transactions/${gids.committed}`)).text();
      expect(detail).to.contain(gids.committed);
      expect(detail).to.not.match(/payload|result/i);
    });

    async function login(context: BrowserContext): Promise<Page> {
      const page = await context.newPage();
      await page.goto(`${base}/console`);
      await page.fill('#token', TOKEN);
      await page.click('button[type=submit]');
      await page.waitForSelector('#transactions');
      return page;
    }
  });
});
