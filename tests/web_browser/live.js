// Drives the live web UI in Debian's Chromium with Playwright (tests/web_browser.rs runs it;
// playwright-core comes from tests/har_browser/node_modules through NODE_PATH).
//
//   node tests/web_browser/live.js UI_URL MOCK_URL OUT_DIR
//
// Opens the start page (an open workload's multiplier out of range is refused), starts a 20-user run against the mock, waits for charts and tables
// to fill (the conversation panels mid-run), raises users 20 → 50 (and checks the mock's own open connections follow), tries
// an out-of-range value, reloads and finds the whole chart history, stops, downloads
// report.html and opens it offline. Prints one JSON object of what it saw; every request
// the browser made is in `requests` (the Rust side checks they all went to the UI's host).
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const [ui, mock, out] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const step = (s) => process.stderr.write(`live.js: ${s}\n`);

async function mockConnections() {
  const text = await (await fetch(`${mock}/metrics`)).text();
  const m = text.match(/^connections_open (\d+)/m);
  return m ? Number(m[1]) : -1;
}

async function until(what, secs, f) {
  const end = Date.now() + secs * 1000;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${secs} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  const browser = await chromium.launch({ executablePath, args });
  const context = await browser.newContext({ acceptDownloads: true });
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // the two refused requests (a bad form, an out-of-range value) are logged by the browser
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 400/.test(m.text())) errors.push(m.text());
  });
  const result = { errors };

  step('start page');
  await page.goto(ui);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 });
  result.recordings = await page.$$eval('#recordings input', (l) => l.map((c) => c.value));
  // an open workload asks for a multiplier; one out of range is refused with a message,
  // on the page and by the server (a form posted past the page's own check)
  await page.check('#w-open');
  await page.waitForSelector('#f-multiply', { state: 'visible', timeout: 5000 });
  result.usersHiddenWhenOpen = await page.isHidden('#f-users');
  await page.fill('#f-target', mock);
  await page.fill('#f-multiply', '0');
  await page.click('#b-start');
  await page.waitForSelector('#start-msg.bad', { timeout: 5000 });
  result.multiplyError = await page.textContent('#start-msg');
  result.serverMultiplyError = await page.evaluate((body) => fetch('api/start', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  }).then((r) => r.json().then((j) => r.status + ' ' + j.error)), { recordings: result.recordings.slice(0, 1), target: mock, workload: 'open', multiply: '-3' });
  await page.check('#w-closed');
  result.usersShownWhenClosed = await page.isVisible('#f-users');
  // a bad form is refused with the command's own message, no run starts
  await page.fill('#f-target', mock);
  await page.fill('#f-users', '20');
  await page.fill('#f-spawn', '50');
  await page.fill('#f-duration', 'forever');
  await page.click('#b-start');
  await page.waitForSelector('#start-msg.bad', { timeout: 15000 });
  result.startError = await page.textContent('#start-msg');
  await page.fill('#f-duration', '90s');
  await page.click('#b-start');
  await page.waitForURL(ui, { timeout: 60000 });
  step('live page');
  await page.waitForFunction(() => Number(document.body.dataset.seconds || 0) >= 3, null, { timeout: 30000 });
  await page.waitForFunction(() => document.body.dataset.users === '20', null, { timeout: 30000 });
  result.connectionsAt20 = await until('20 connections at the mock', 20, async () => {
    const n = await mockConnections();
    return n >= 20 ? n : 0;
  });
  // the conversation panels fill while the run goes
  await page.waitForFunction(() => document.querySelectorAll('#conversation h3').length >= 3, null, { timeout: 20000 });
  result.convMidNote = await page.textContent('#conv-note');
  result.convMidTitles = await page.$$eval('#conversation h3', (l) => l.map((h) => h.textContent));
  result.rateChartPoints = Number(await page.getAttribute('#c-rate svg', 'data-points'));
  result.endpointRows = await page.$$eval('#endpoints tbody tr', (l) => l.length);
  result.histBins = Number(await page.getAttribute('#c-hist svg', 'data-bins'));

  step('users 20 → 50');
  await page.fill('#in-users', '50');
  await page.fill('#in-spawn', '100');
  await page.click('#b-users');
  await page.waitForFunction(() => document.body.dataset.users === '50', null, { timeout: 30000 });
  result.connectionsAt50 = await until('50 connections at the mock', 20, async () => {
    const n = await mockConnections();
    return n >= 50 ? n : 0;
  });
  result.kpiUsers = await page.textContent('#k-users');
  await page.waitForFunction(() => Number((document.querySelector('#c-users svg') || {}).getAttribute?.('data-markers') || 0) >= 1, null, { timeout: 10000 });

  step('an out-of-range value');
  await page.fill('#in-users', '5');
  await page.fill('#in-spawn', '0');
  await page.click('#b-users');
  await page.waitForSelector('#control-msg.bad', { timeout: 10000 });
  result.controlError = await page.textContent('#control-msg');
  await new Promise((r) => setTimeout(r, 1500));
  result.usersAfterRefusal = await page.evaluate(() => document.body.dataset.users);

  step('reload');
  const before = Number(await page.evaluate(() => document.body.dataset.seconds));
  await page.reload();
  await page.waitForFunction((n) => Number(document.body.dataset.seconds || 0) >= n, before, { timeout: 30000 });
  result.secondsBeforeReload = before;
  result.pointsAfterReload = Number(await page.getAttribute('#c-rate svg', 'data-points'));
  result.markersAfterReload = Number(await page.getAttribute('#c-rate svg', 'data-markers'));

  step('stop');
  await page.click('#b-stop');
  await page.waitForSelector('body[data-ended="1"]', { timeout: 60000 });
  await new Promise((r) => setTimeout(r, 700));
  result.kpiRequests = await page.textContent('#k-req');
  result.tableRequests = await page.$$eval('#endpoints tbody tr', (l) => l.map((r) => [r.children[0].textContent, r.children[1].textContent, r.children[2].textContent]));
  result.status = await page.textContent('#status');
  result.convEndNote = await page.textContent('#conv-note');
  result.convEnd = await page.$$eval('#conversation .card', (cards) => cards.map((c) => [
    c.querySelector('h3').textContent,
    Array.from(c.querySelectorAll('tbody tr')).map((r) => [r.children[0].textContent, r.children[1].textContent]),
  ]));
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#downloads a[href="download/report.html"]'),
  ]);
  const report = path.join(out, 'downloaded-report.html');
  await download.saveAs(report);
  await page.screenshot({ path: path.join(out, 'live.png'), fullPage: true });

  step('report.html offline');
  const offline = await browser.newContext({ offline: true });
  offline.on('request', (r) => requests.push(r.url()));
  const rp = await offline.newPage();
  rp.on('pageerror', (e) => errors.push('report: ' + String(e)));
  await rp.goto('file://' + report);
  await rp.waitForSelector('body[data-rendered]', { timeout: 15000 });
  result.reportRendered = await rp.evaluate(() => document.body.dataset.rendered);
  result.reportMarkers = await rp.$$eval('#charts svg', (l) => l.map((s) => Number(s.getAttribute('data-markers') || 0)));
  result.reportHistBins = Number(await rp.getAttribute('[data-dist="hist"] svg', 'data-bins'));
  result.reportPctPoints = Number(await rp.getAttribute('[data-dist="pct"] svg', 'data-points'));
  result.requests = requests;
  await browser.close();
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => { process.stderr.write(`live.js: ${e.stack || e}\n`); process.exit(1); });
