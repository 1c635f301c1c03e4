// Opens the service's dashboard in Debian's Chromium (playwright-core, no browser download), waits
// until the numbers are live, checks that they move while events flow, writes a screenshot, and
// prints one JSON line with what it read.
// Usage: node dashboard.js <base url> <screenshot path> [chromium path]
const { chromium } = require('playwright-core');

const [, , baseUrl, screenshot, executablePath = '/usr/bin/chromium'] = process.argv;
const number = (text) => Number(String(text).replace(/[^0-9.]/g, ''));

(async () => {
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--headless=new'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(baseUrl, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('live'), null, { timeout: 30000 });
    await page.waitForFunction(() => Number(document.getElementById('events-total').textContent.replace(/[^0-9]/g, '')) > 0, null, { timeout: 30000 });
    const first = number(await page.textContent('#events-total'));
    await page.waitForFunction((before) => Number(document.getElementById('events-total').textContent.replace(/[^0-9]/g, '')) > before, first, { timeout: 30000 });
    await page.waitForFunction(() => document.getElementById('p99').textContent !== '–', null, { timeout: 30000 });
    const result = {
      title: await page.title(),
      eventsTotalFirst: first,
      eventsTotalLater: number(await page.textContent('#events-total')),
      eventsPerSecond: number(await page.textContent('#events-in')),
      deliveriesTotal: number(await page.textContent('#deliveries-total')),
      p99: await page.textContent('#p99'),
      clients: await page.textContent('#clients'),
      slowest: await page.textContent('#slowest'),
      status: await page.textContent('#status'),
      errors,
    };
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
