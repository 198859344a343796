/**
 * The console's page, stylesheet and script, served from memory. The script
 * builds every element with textContent / setAttribute (never innerHTML from
 * data), and the Content-Security-Policy allows only these same-origin files.
 */

function shell(title: string, body: string): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${title}</title>`,
    '<link rel="stylesheet" href="/console/app.css">',
    '</head><body>',
    body,
    '</body></html>',
  ].join('\n');
}

/** The login form: the token is POSTed in the body, never put in a URL. */
export function loginPage(failed: boolean): string {
  return shell(
    'TCC console: log in',
    [
      '<main class="login"><h1>TCC console</h1>',
      '<form method="post" action="/console/login" id="login">',
      '<label for="token">Admin token</label>',
      '<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>',
      '<button type="submit">Log in</button>',
      failed ? '<p class="error" id="login-error">That is not the admin token.</p>' : '',
      '</form></main>',
    ].join('\n'),
  );
}

/** The console itself: filters, list, timeline; filled by app.js. */
export function consolePage(): string {
  return shell(
    'TCC console',
    `<header><h1>TCC console</h1><span id="clock"></span>
<form method="post" action="/console/logout"><button type="submit" id="logout">Log out</button></form></header>
<main>
<section id="list-pane">
<form id="filters">
<fieldset><legend>Status</legend>
<label><input type="checkbox" name="status" value="TRYING"> TRYING</label>
<label><input type="checkbox" name="status" value="CONFIRMING"> CONFIRMING</label>
<label><input type="checkbox" name="status" value="CONFIRMED"> CONFIRMED</label>
<label><input type="checkbox" name="status" value="CANCELLING"> CANCELLING</label>
<label><input type="checkbox" name="status" value="CANCELLED"> CANCELLED</label>
</fieldset>
<label><input type="checkbox" name="stuck" value="1"> stuck only</label>
<label>participant <input type="text" name="participant" size="22" placeholder="host:port"></label>
<label>older than (s) <input type="number" name="older_than_s" min="0" size="6"></label>
<label>page size <input type="number" name="limit" min="1" max="500" value="50" size="4"></label>
<button type="submit">Apply</button>
</form>
<p class="error" id="list-error" hidden></p>
<table id="transactions"><thead><tr><th>gid</th><th>status</th><th>created</th><th>age</th><th>rounds</th><th>last error</th></tr></thead><tbody></tbody></table>
<button id="next-page" hidden>Next page</button>
</section>
<section id="detail-pane" hidden>
<h2>Transaction <code id="detail-gid"></code> <span id="detail-status" class="status"></span></h2>
<p id="detail-facts"></p>
<div id="timeline"></div>
<div class="legend"><span class="sw ok"></span>ok <span class="sw refused"></span>refused <span class="sw failed"></span>failed / unknown <span class="sw resolved"></span>resolved by hand <span class="sw decision"></span>decision</div>
<table id="branches"><thead><tr><th>branch</th><th>participant</th><th>action</th><th>try</th><th>phase two</th><th>attempts</th><th>last error</th></tr></thead><tbody></tbody></table>
</section>
</main>
<script src="/console/app.js"></script>`,
  );
}

export const CONSOLE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2327; background: #f6f7f7; }
header { display: flex; align-items: center; gap: 1em; padding: .5em 1em; background: #1d2327; color: #fff; }
header h1 { font-size: 1.1em; margin: 0; flex: 1; }
main { padding: 1em; display: grid; gap: 1em; }
main.login { max-width: 22em; margin: 4em auto; background: #fff; padding: 2em; border-radius: 6px; }
main.login input { display: block; width: 100%; margin: .5em 0 1em; padding: .4em; box-sizing: border-box; }
#filters { display: flex; flex-wrap: wrap; gap: .8em; align-items: center; margin-bottom: .5em; }
fieldset { border: 1px solid #c3c4c7; padding: .2em .6em; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #e0e0e0; font-size: 13px; }
#transactions tbody tr { cursor: pointer; }
#transactions tbody tr:hover, #transactions tbody tr.selected { background: #e8f0fe; }
.status { font-weight: 600; }
.st-CONFIRMED { color: #2e7d32; } .st-CANCELLED { color: #8d6e63; }
.st-TRYING, .st-CONFIRMING, .st-CANCELLING { color: #1565c0; }
.stuck { color: #c62828; font-weight: 600; }
.error { color: #c62828; }
#timeline svg { background: #fff; border: 1px solid #dcdcde; }
.legend { margin: .4em 0 1em; font-size: 12px; }
.sw { display: inline-block; width: 12px; height: 12px; margin: 0 .3em 0 1em; vertical-align: middle; }
.sw.ok { background: #2e7d32; } .sw.refused { background: #ef6c00; } .sw.failed { background: #c62828; }
.sw.resolved { background: #6a1b9a; } .sw.decision { background: #1d2327; width: 3px; }
code { font-size: 12px; }
`;

export const CONSOLE_APP_JS = String.raw`
'use strict';
(function () {
  var FINAL = { CONFIRMED: true, CANCELLED: true };
  var COLORS = { ok: '#2e7d32', refused: '#ef6c00', failed: '#c62828', unknown: '#c62828', resolved: '#6a1b9a' };
  var SVG = 'http://www.w3.org/2000/svg';
  var listQuery = '';
  var pageTokens = [];
  var selected = null;
  var listTimer = null;
  var detailTimer = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function time(ms) { return ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', '') : ''; }
  function age(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    return Math.round(s / 3600) + ' h';
  }
  function getJson(path) {
    return fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } }).then(function (r) {
      if (r.status === 401) { window.location.reload(); throw new Error('logged out'); }
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
        return body;
      });
    });
  }

  function readFilters() {
    var f = $('filters');
    var q = new URLSearchParams();
    f.querySelectorAll('input[name=status]:checked').forEach(function (c) { q.append('status', c.value); });
    if (f.stuck.checked) q.set('stuck', '1');
    if (f.participant.value.trim()) q.set('participant', f.participant.value.trim());
    if (f.older_than_s.value) q.set('older_than_ms', String(Number(f.older_than_s.value) * 1000));
    if (f.limit.value) q.set('limit', f.limit.value);
    return q.toString();
  }

  function loadList() {
    var q = new URLSearchParams(listQuery);
    var token = pageTokens[pageTokens.length - 1];
    if (token) q.set('page_token', token);
    return getJson('/console/api/transactions?' + q.toString()).then(function (body) {
      $('list-error').hidden = true;
      var tbody = $('transactions').tBodies[0];
      tbody.textContent = '';
      body.transactions.forEach(function (t) {
        var tr = el('tr', { 'data-gid': t.gid, 'data-status': t.status });
        if (t.gid === selected) tr.className = 'selected';
        tr.appendChild(el('td', {}, t.gid));
        var st = el('td', { 'class': 'status st-' + t.status }, t.status);
        if (t.stuck) st.appendChild(el('span', { 'class': 'stuck' }, ' stuck'));
        tr.appendChild(st);
        tr.appendChild(el('td', {}, time(t.createdAt)));
        tr.appendChild(el('td', {}, age((FINAL[t.status] ? t.updatedAt : body.now) - t.createdAt)));
        tr.appendChild(el('td', {}, t.attempts));
        tr.appendChild(el('td', {}, t.lastError || t.reason));
        tr.addEventListener('click', function () { window.location.hash = '#/txn/' + encodeURIComponent(t.gid); });
        tbody.appendChild(tr);
      });
      var next = $('next-page');
      next.hidden = !body.nextPageToken;
      next.onclick = function () { pageTokens.push(body.nextPageToken); void loadList(); };
      $('clock').textContent = time(body.now);
    }).catch(function (err) {
      $('list-error').hidden = false;
      $('list-error').textContent = String(err.message || err);
    });
  }

  function drawTimeline(body) {
    var t = body.transaction;
    var branches = body.branches.slice().sort(function (a, b) { return a.seq - b.seq; });
    var calls = body.logs.filter(function (l) { return l.branchId && (l.phase === 'try' || l.phase === 'confirm' || l.phase === 'cancel' || l.phase === 'resolve'); });
    var decision = body.logs.filter(function (l) { return l.phase === 'decision'; })[0];
    var t0 = t.createdAt;
    var t1 = FINAL[t.status] ? t.updatedAt : body.now;
    calls.forEach(function (l) { t1 = Math.max(t1, l.startedAt + l.durationMs); });
    if (t1 <= t0) t1 = t0 + 1;
    var LABEL = 220, WIDTH = 1000, LANE = 34, TOP = 28;
    var height = TOP + LANE * Math.max(1, branches.length) + 10;
    var scale = function (ms) { return LABEL + ((ms - t0) / (t1 - t0)) * (WIDTH - LABEL - 20); };
    var root = svg('svg', { width: WIDTH, height: height, viewBox: '0 0 ' + WIDTH + ' ' + height, role: 'img', id: 'timeline-svg' });
    root.appendChild(svg('title', {}, 'Timeline of ' + t.gid));
    for (var i = 0; i <= 4; i++) {
      var ms = t0 + ((t1 - t0) * i) / 4;
      var x = scale(ms);
      root.appendChild(svg('line', { x1: x, x2: x, y1: TOP - 6, y2: height - 6, stroke: '#eee' }));
      root.appendChild(svg('text', { x: x, y: 14, 'font-size': 11, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', fill: '#666' }, '+' + Math.round(ms - t0) + ' ms'));
    }
    branches.forEach(function (b, lane) {
      var y = TOP + lane * LANE;
      var g = svg('g', { 'class': 'lane', 'data-branch': b.branchId });
      g.appendChild(svg('rect', { x: 0, y: y, width: WIDTH, height: LANE, fill: lane % 2 ? '#fafafa' : '#fff' }));
      g.appendChild(svg('text', { x: 6, y: y + 14, 'font-size': 12, 'font-weight': 600 }, b.branchId + ' ' + b.action));
      g.appendChild(svg('text', { x: 6, y: y + 28, 'font-size': 11, fill: '#666' }, b.participant));
      calls.filter(function (l) { return l.branchId === b.branchId; }).forEach(function (l) {
        var outcome = l.phase === 'resolve' ? 'resolved' : l.outcome;
        var x1 = scale(l.startedAt);
        var w = Math.max(4, scale(l.startedAt + l.durationMs) - x1);
        var bar = svg('rect', {
          'class': 'bar', x: x1, y: y + 6, width: w, height: LANE - 12, rx: 2,
          fill: COLORS[outcome] || '#757575', 'data-branch': b.branchId, 'data-phase': l.phase, 'data-outcome': outcome, 'data-attempt': l.attempt,
        });
        bar.appendChild(svg('title', {}, l.phase + ' #' + l.attempt + ': ' + outcome + ' in ' + l.durationMs + ' ms' + (l.error ? ' (' + l.error + ')' : '') + (l.node ? ' on ' + l.node : '')));
        g.appendChild(bar);
        if (w > 28) g.appendChild(svg('text', { x: x1 + 3, y: y + LANE / 2 + 4, 'font-size': 10, fill: '#fff', 'pointer-events': 'none' }, l.phase));
      });
      root.appendChild(g);
    });
    if (decision) {
      var dx = scale(decision.startedAt);
      var mark = svg('g', { 'class': 'decision', 'data-decision': decision.outcome });
      mark.appendChild(svg('line', { x1: dx, x2: dx, y1: TOP - 8, y2: height - 4, stroke: '#1d2327', 'stroke-width': 2, 'stroke-dasharray': '5 3' }));
      mark.appendChild(svg('text', { x: dx + 4, y: TOP - 2, 'font-size': 11, 'font-weight': 600 }, decision.outcome === 'commit' ? 'decided: commit' : 'decided: rollback'));
      root.appendChild(mark);
    }
    var box = $('timeline');
    box.textContent = '';
    box.appendChild(root);
  }

  function loadDetail() {
    if (!selected) return Promise.resolve();
    var gid = selected;
    return getJson('/console/api/transactions/' + encodeURIComponent(gid)).then(function (body) {
      if (gid !== selected) return;
      var t = body.transaction;
      $('detail-pane').hidden = false;
      $('detail-gid').textContent = t.gid;
      var st = $('detail-status');
      st.textContent = t.status + (t.stuck ? ' (stuck)' : '');
      st.className = 'status st-' + t.status;
      st.setAttribute('data-status', t.status);
      $('detail-facts').textContent = 'created ' + time(t.createdAt) + ', deadline ' + time(t.deadlineAt) +
        (t.decidedAt ? ', decided ' + time(t.decidedAt) : '') + ', rounds ' + t.attempts + (t.reason ? ', reason: ' + t.reason : '') +
        (FINAL[t.status] ? '' : ' (refreshing live)');
      drawTimeline(body);
      var tbody = $('branches').tBodies[0];
      tbody.textContent = '';
      body.branches.forEach(function (b) {
        var tr = el('tr', {});
        [b.branchId, b.participant, b.action, b.tryState, b.phaseTwo, b.attempts, b.lastError].forEach(function (v) { tr.appendChild(el('td', {}, v)); });
        tbody.appendChild(tr);
      });
    }).catch(function (err) {
      $('detail-pane').hidden = false;
      $('detail-facts').textContent = String(err.message || err);
    });
  }

  function route() {
    var m = /^#\/txn\/(.+)$/.exec(window.location.hash);
    selected = m ? decodeURIComponent(m[1]) : null;
    $('detail-pane').hidden = !selected;
    document.querySelectorAll('#transactions tbody tr').forEach(function (tr) {
      tr.className = tr.getAttribute('data-gid') === selected ? 'selected' : '';
    });
    void loadDetail();
  }

  $('filters').addEventListener('submit', function (e) {
    e.preventDefault();
    listQuery = readFilters();
    pageTokens = [];
    void loadList();
  });
  window.addEventListener('hashchange', route);
  listQuery = readFilters();
  void loadList();
  route();
  // Live: the list every 2 s, the open transaction every second.
  listTimer = setInterval(function () { void loadList(); }, 2000);
  detailTimer = setInterval(function () { void loadDetail(); }, 1000);
  void listTimer; void detailTimer;
})();
`;
