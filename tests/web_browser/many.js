// The live page with 2,000 endpoints, in Debian's Chromium (tests/web_browser.rs runs it).
//
//   node tests/web_browser/many.js LIVE_URL
//
// Waits for every endpoint to appear, then checks the table is paged (50 rows), that the
// filter and sorting work, records how long page updates take (the page's own
// data-render-ms), waits for the end and reads the table's figures. Prints one JSON object.
'use strict';
const { chromium } = require('playwright-core');

const [live] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const args = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const step = (s) => process.stderr.write(`many.js: ${s}\n`);

async function main() {
  const browser = await chromium.launch({ executablePath, args });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const result = { errors };
  await page.goto(live);
  step('2,000 endpoints');
  await page.waitForFunction(() => /^2000\b/.test(document.getElementById('ep-count').textContent), null, { timeout: 60000 });
  result.rows = await page.$$eval('#endpoints tbody tr', (l) => l.length);
  result.pageNote = await page.textContent('#ep-page-note');
  await page.fill('#ep-filter', '/ep-1999');
  await page.waitForFunction(() => document.querySelectorAll('#endpoints tbody tr').length === 1, null, { timeout: 5000 });
  result.filtered = await page.$$eval('#endpoints tbody tr', (l) => l.map((r) => r.children[1].textContent));
  await page.fill('#ep-filter', '');
  // sort by name, descending: the last endpoint first
  const name = await page.$('#endpoints th[data-k="2"]');
  if (name) {
    await name.click();
    const first = await page.textContent('#endpoints tbody tr td:nth-child(2)');
    await name.click();
    result.sortedFirst = [first, await page.textContent('#endpoints tbody tr td:nth-child(2)')];
  }
  await page.click('#ep-next');
  result.page2Note = await page.textContent('#ep-page-note');
  await page.click('#ep-prev');
  step('the end');
  await page.waitForSelector('body[data-ended="1"]', { timeout: 90000 });
  await new Promise((r) => setTimeout(r, 700));
  result.renderMaxMs = Number(await page.evaluate(() => document.body.dataset.renderMaxMs));
  result.seconds = Number(await page.evaluate(() => document.body.dataset.seconds));
  // every row's name and request count, all pages
  const all = [];
  for (;;) {
    all.push(...await page.$$eval('#endpoints tbody tr', (l) => l.map((r) => [r.children[1].textContent, r.children[2].textContent, r.children[3].textContent])));
    if (await page.isDisabled('#ep-next')) break;
    await page.click('#ep-next');
  }
  result.table = all;
  await browser.close();
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => { process.stderr.write(`many.js: ${e.stack || e}\n`); process.exit(1); });
