// Records a browser session against the mock agent API as HAR, with Playwright driving
// Debian's Chromium (tests/har.rs runs it; see the README's "HAR" section).
//
//   node tests/har_browser/record.js BASE_URL OUT.har [SESSIONS]
//
// The page is served from the mock's own origin (BASE_URL/app, answered by Playwright's
// router, with a stylesheet the importer must skip), so its fetch() calls are same-origin.
// It runs SESSIONS students at once; each starts a session, then sends 3 answers and one
// status check with pauses of 120–300 ms between a response and the next request.
//
//   node tests/har_browser/record.js --replay-from-har IN.har URL
//
// opens URL with every request answered from IN.har by Playwright (routeFromHAR) and prints
// the body the page received: a check that another tool reads reprise's exported HAR.
'use strict';
const { chromium } = require('playwright-core');

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const args = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

const PAGE = `<!doctype html><html><head><link rel="stylesheet" href="app.css"></head>
<body><h1>students</h1><pre id="log"></pre></body></html>`;

async function student(n) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const post = async (path, body) => {
    const res = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return res.json();
  };
  const start = await post('/session/start', { student_id: `browser-${n}`, topic: 'photosynthesis' });
  const id = start.thread_id;
  const pauses = [120 + 40 * n, 300, 180, 150 + 30 * n];
  const answers = ['plants need light', 'chlorophyll absorbs light', 'glucose and oxygen'];
  for (let k = 0; k < answers.length; k++) {
    await sleep(pauses[k]);
    await post('/session/continue', { thread_id: id, user_response: `${answers[k]} (${n})` });
  }
  await sleep(pauses[3]);
  await (await fetch(`/session/status/${id}`)).json();
  return id;
}

async function record(base, out, sessions) {
  const browser = await chromium.launch({ executablePath, args });
  const context = await browser.newContext({ recordHar: { path: out } });
  const page = await context.newPage();
  await page.route(`${base}/app`, (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: PAGE }));
  await page.route(`${base}/app.css`, (route) =>
    route.fulfill({ status: 200, contentType: 'text/css', body: 'h1 { color: teal }' }));
  await page.goto(`${base}/app`);
  const ids = await page.evaluate(
    async ([fn, count]) => {
      const student = eval(`(${fn})`);
      return Promise.all(Array.from({ length: count }, (_, n) => student(n)));
    },
    [student.toString(), sessions],
  );
  await context.close();
  await browser.close();
  console.log(JSON.stringify({ thread_ids: ids }));
}

async function replayFromHar(har, url) {
  const browser = await chromium.launch({ executablePath, args });
  const context = await browser.newContext();
  await context.routeFromHAR(har, { notFound: 'abort' });
  const page = await context.newPage();
  const res = await page.goto(url);
  console.log(JSON.stringify({ status: res.status(), body: await res.text() }));
  await browser.close();
}

(async () => {
  const argv = process.argv.slice(2);
  if (argv[0] === '--replay-from-har') {
    await replayFromHar(argv[1], argv[2]);
  } else {
    await record(argv[0].replace(/\/$/, ''), argv[1], Number(argv[2] || 2));
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
