'use strict';
// What every browser test shares: the demo run.sh started, Debian's chromium, signing in,
// screenshots and the accessibility check. Locators go by role and label, as a person reads the
// page, never by CSS path.

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');
const axe = require('axe-core');

/** The demo's start-up line: url, account, login, password, primary_domain, client_id, key, data_dir. */
const demo = JSON.parse(process.env.ROSTER_DEMO);
const work = process.env.ROSTER_BROWSER_WORK;
const screenshots = process.env.ROSTER_SCREENSHOTS;

/** Long enough for a Search Now of the demo's tenant on a loaded two-core machine. */
const RUN_TIMEOUT_MS = 120_000;

/** A URL of the demo's account: accountUrl('/users') is /accounts/contoso-demo/users. */
function accountUrl(tail, account = demo.account) {
  return new URL(`/accounts/${account}${tail}`, demo.url).href;
}

/**
 * Debian's chromium with the flags that work here. Playwright gives each launch a fresh
 * user-data-dir of its own (and refuses one passed as a flag).
 */
function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Signs in through the login form and waits for the console to leave the sign-in page. */
async function signIn(page, login = demo.login, password = demo.password) {
  await page.goto(new URL('/login', demo.url).href);
  await page.getByLabel('Email address').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.pathname !== '/login');
}

/**
 * The admin's signed-in session, made once by the first test that signs in and reused after: the
 * product allows five sign-in attempts per address a minute, and the suite is faster than that.
 */
const ADMIN_STATE = path.join(work, 'admin-session.json');

async function adminContext(browser, options = {}) {
  if (fs.existsSync(ADMIN_STATE)) {
    return browser.newContext({ ...options, storageState: ADMIN_STATE });
  }
  const context = await browser.newContext(options);
  await signIn(await context.newPage());
  await context.storageState({ path: ADMIN_STATE });
  return context;
}

/** Keeps a context's session for the tests after this one. */
async function keepAdminSession(context) {
  await context.storageState({ path: ADMIN_STATE });
}

/** A full-page screenshot under target/browser-screenshots/NAME.png. */
async function screenshot(page, name) {
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

/**
 * Runs axe-core on the page and fails on serious or critical violations. axe is evaluated
 * through the DevTools protocol, which the console's Content-Security-Policy rightly does not
 * let a page's own inline script do.
 */
async function assertAccessible(page, name) {
  await page.evaluate(axe.source);
  const results = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ['violations'] }),
  );
  const grave = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const described = grave.map(
    (v) => `${v.impact}: ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
  );
  assert.deepEqual(described, [], `${name} has no serious or critical accessibility violations`);
}

/**
 * After Search Now: the run page shows progress (live, or refreshing itself without JavaScript)
 * until the plan is ready; follows it to the plan page.
 */
async function followRunToPlan(page) {
  await page.waitForURL(/\/runs\/[^/?#]+/, { timeout: RUN_TIMEOUT_MS });
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  while (!/\/plans\/[^/?#]+/.test(page.url())) {
    assert.ok(Date.now() < deadline, `the run at ${page.url()} leads to its plan`);
    const review = page.getByRole('link', { name: /review the plan/i });
    if ((await review.count()) > 0) {
      await review.first().click();
    } else {
      await page.waitForTimeout(500);
    }
  }
  await page.getByRole('button', { name: 'Sync Active Directory' }).first().waitFor();
}

/** After Sync Active Directory: the run page, once the run has ended, with its result. */
async function followRunToResult(page) {
  await page.waitForURL(/\/runs\/[^/?#]+/, { timeout: RUN_TIMEOUT_MS });
  await page
    .getByRole('heading', { name: 'Result by category' })
    .waitFor({ timeout: RUN_TIMEOUT_MS });
}

/** Search Now from the settings page, then the plan it built. */
async function searchNow(page) {
  await page.goto(accountUrl('/import/azure'));
  await page.getByRole('button', { name: 'Search Now', exact: true }).click();
  await followRunToPlan(page);
}

/** The Import & Sync › Azure Active Directory form, filled as the guide's Step 2 says, then saved. */
async function fillAndSaveSettings(page, { key = demo.key } = {}) {
  await page.goto(accountUrl('/import/azure'));
  // Step 2, item 2: new users are silent until the admin decides otherwise.
  await page.getByLabel('Default New User Role').selectOption({ label: 'Silent User' });
  // Item 3.
  await page.getByLabel('Primary Domain').fill(demo.primary_domain);
  await page.getByLabel('Client ID').fill(demo.client_id);
  await enterKey(page, key);
  // Item 4: What to Sync.
  for (const what of ['Active Users', 'Distribution Groups', 'Security Groups']) {
    await page.getByLabel(what, { exact: true }).check();
  }
  // Item 5: How to Sync.
  for (const how of [
    'Add Users',
    'Update Users',
    'Add Groups',
    'Update Groups',
    'Remove Deleted Users',
    'Remove Deleted Groups',
  ]) {
    await page.getByLabel(how, { exact: true }).check();
  }
  // Item 6: When to Sync.
  await page.getByLabel('Sync Frequency').selectOption({ label: '24 hours' });
  // Item 7: Save, and the page confirms.
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByRole('status').filter({ hasText: /saved/i }).first().waitFor();
}

/**
 * The write-only key: typed into its field, which, once a key is set, sits under the Replace
 * disclosure beside "set on <date>".
 */
async function enterKey(page, key) {
  const field = page.getByLabel('Key', { exact: true });
  if (!(await field.isVisible())) {
    await page.getByText('Replace', { exact: true }).click();
  }
  await field.fill(key);
}

/** The `roster` binary on the demo's data directory (the demo keeps serving meanwhile). */
function roster(args, input = '') {
  return execFileSync(process.env.ROSTER_BIN, ['--data-dir', demo.data_dir, ...args], {
    input,
    encoding: 'utf8',
  });
}

/** An address in a label such as "Add ada.lovelace@contoso.com". */
const ADDRESS = /[\w.+'-]+@[\w-]+(\.[\w-]+)+/;

/**
 * Opens a category of the plan by its tab: a link, or on a page of checkboxes a button that
 * saves them before the tab opens.
 */
async function openPlanCategory(page, name) {
  const tabs = page.getByRole('navigation', { name: 'Plan categories' });
  await tabs
    .getByRole('link', { name, exact: true })
    .or(tabs.getByRole('button', { name, exact: true }))
    .click();
  await page.getByRole('heading', { name }).waitFor();
}

/** Opens the users page searched for `address` and tells whether it is listed. */
async function userListed(page, address) {
  await page.goto(accountUrl('/users'));
  await page.getByRole('searchbox').fill(address);
  await page.getByRole('searchbox').press('Enter');
  await page.waitForLoadState('load');
  return (await page.getByRole('link', { name: address, exact: true }).count()) > 0;
}

module.exports = {
  ADDRESS,
  accountUrl,
  adminContext,
  assertAccessible,
  demo,
  enterKey,
  fillAndSaveSettings,
  followRunToPlan,
  followRunToResult,
  searchNow,
  keepAdminSession,
  launch,
  openPlanCategory,
  roster,
  screenshot,
  signIn,
  userListed,
};
