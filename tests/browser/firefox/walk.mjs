// The dashboard in Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core (no
// geckodriver, no downloaded browser). Run by tests/browser/test_dashboard_firefox.py, which
// starts the web role and asserts on what this prints: one JSON line of observations. The
// script only acts and observes; the test decides. Any step that cannot be done (a selector
// that never shows) ends the walk with {"failed": ...} and what was seen up to there.
//
//   WIREWATCH_TOKEN=<token> node walk.mjs <base-url> <artifacts-dir>
//   FIREFOX (default /usr/bin/firefox-esr), WAIT_MS (default 60000)

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const [base, artifacts] = process.argv.slice(2);
const token = process.env.WIREWATCH_TOKEN || "";
const firefox = process.env.FIREFOX || "/usr/bin/firefox-esr";
const waitMs = Number(process.env.WAIT_MS || 60000);
const seen = { errors: [], shots: [], steps: {} };

async function text(page, selector) {
  await page.waitForSelector(selector, { timeout: waitMs });
  return page.$eval(selector, (e) => e.textContent.replace(/\s+/g, " ").trim());
}

async function shot(page, name) {
  const path = join(artifacts, `firefox-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  seen.shots.push(path);
}

// Navigates and waits for the page (the sign-in redirect included) to have loaded.
async function go(page, path) {
  await page.goto(base + path, { waitUntil: "load", timeout: waitMs });
  return new URL(page.url()).pathname;
}

// Submits by pressing Enter in `selector`, and waits for the page it leads to.
async function submitFrom(page, selector) {
  await Promise.all([
    page.waitForNavigation({ waitUntil: "load", timeout: waitMs }),
    page.focus(selector).then(() => page.keyboard.press("Enter")),
  ]);
}

async function signIn(page) {
  const steps = {};
  steps.redirected_to = await go(page, "/ui/alerts");
  await page.type("#token", "not-the-token-0123456789");
  await submitFrom(page, "#token");
  steps.refused = await text(page, "#signin-error");
  await shot(page, "01-signin-refused");
  await page.type("#token", token);
  await submitFrom(page, "#token");
  steps.landed_on = new URL(page.url()).pathname;
  return steps;
}

async function alerts(page) {
  await go(page, "/ui/alerts");
  await page.waitForSelector("li.alert", { timeout: waitMs });
  const steps = {
    rows: await page.$$eval("li.alert", (rows) => rows.length),
    first: await text(page, "li.alert"),
    heading: await text(page, "main h1"),
  };
  // A story and its deliveries load into the row when it is opened (a fetch by app.js).
  await page.click("li.alert summary");
  await page.waitForSelector("li.alert details[open] .detail h3", { timeout: waitMs });
  steps.detail = await text(page, "li.alert details[open] .detail");
  await shot(page, "02-alerts");
  return steps;
}

async function watchlists(page) {
  await go(page, "/ui/watchlists");
  const steps = {
    heading: await text(page, "main h1"),
    edit_links: await page.$$eval("a[href$='/edit']", (links) => links.map((a) => a.textContent.trim())),
    sparklines: await page.$$eval("svg.spark polyline", (lines) => lines.length),
  };
  await shot(page, "03-watchlists");
  return steps;
}

async function editor(page) {
  await go(page, "/ui/watchlists/new");
  await page.type("#w-id", "strait");
  await page.click("#w-query");
  await page.type("#w-query", "Taiwan AND (drills OR", { delay: 20 });
  const steps = { error: await text(page, "#query-error") };
  steps.invalid = await page.$eval("#w-query", (e) => e.getAttribute("aria-invalid"));
  steps.caret = await page.$eval("pre.caret", (e) => e.textContent);
  await shot(page, "04-editor-error");
  await page.type("#w-query", " exercise)", { delay: 20 });
  await page.waitForSelector("#query-check.good", { timeout: waitMs });
  steps.fixed = await text(page, "#query-check");
  steps.invalid_after = await page.$eval("#w-query", (e) => e.getAttribute("aria-invalid"));
  steps.error_after = await page.$("#query-error").then((e) => e !== null);
  steps.counts = await text(page, "#bt-counts");
  steps.bars = await page.$$eval("svg.chart rect", (bars) => bars.length);
  await shot(page, "05-editor-fixed");
  return steps;
}

async function feeds(page) {
  await go(page, "/ui/feeds");
  const steps = {
    heading: await text(page, "main h1"),
    rows: await page.$$eval("tbody tr", (rows) => rows.map((r) => r.textContent.replace(/\s+/g, " ").trim())),
  };
  await shot(page, "06-feeds");
  return steps;
}

async function delivery(page) {
  await go(page, "/ui/delivery");
  const steps = { heading: await text(page, "main h1"), main: await text(page, "main") };
  await shot(page, "07-delivery");
  return steps;
}

async function spikes(page) {
  await go(page, "/ui/spikes");
  const steps = {
    heading: await text(page, "main h1"),
    lines: await page.$$eval("svg.chart polyline.line", (lines) => lines.length),
    bands: await page.$$eval("svg.chart polygon.band", (bands) => bands.length),
    spiked: await page.$$eval("svg.chart circle.spiked", (dots) => dots.length),
  };
  await shot(page, "08-spikes");
  return steps;
}

async function signOut(page) {
  await go(page, "/ui/alerts");
  await submitFrom(page, ".signout button");
  const steps = { after_signout: new URL(page.url()).pathname };
  steps.watchlists_now = await go(page, "/ui/watchlists");
  // The live rows the alerts page polls: refused without a session.
  steps.rows_status = await page.evaluate(
    (url) => fetch(url, { credentials: "same-origin" }).then((r) => r.status),
    base + "/ui/alerts/rows?after=0",
  );
  await shot(page, "09-signed-out");
  return steps;
}

async function walk(page) {
  const parts = { signin: signIn, alerts, watchlists, editor, feeds, delivery, spikes, signout: signOut };
  for (const [name, step] of Object.entries(parts)) {
    seen.current = name;
    seen.steps[name] = await step(page);
  }
  delete seen.current;
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  const started = Date.now();
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: firefox,
    headless: true,
    timeout: waitMs,
    protocolTimeout: 2 * waitMs,
  });
  seen.browser = await browser.version();
  seen.launch_ms = Date.now() - started;
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(waitMs);
    await page.setViewport({ width: 1280, height: 900 });
    page.on("console", (m) => { if (m.type() === "error") { seen.errors.push(`${seen.current}: console: ${m.text()}`); } });
    page.on("pageerror", (e) => seen.errors.push(`${seen.current}: page: ${e.message || e}`));
    await walk(page);
  } catch (err) {
    seen.failed = `${seen.current || "launch"}: ${err && err.stack ? err.stack : err}`;
  } finally {
    await browser.close();
  }
  seen.walk_ms = Date.now() - started;
  process.stdout.write(JSON.stringify(seen) + "\n");
}

main().catch((err) => {
  seen.failed = `launch: ${err && err.stack ? err.stack : err}`;
  process.stdout.write(JSON.stringify(seen) + "\n");
  process.exitCode = 1;
});
