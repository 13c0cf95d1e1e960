'use strict';
// The guide's Step 2 and Manual Sync, word for word, in the console of a fresh demo: an admin
// signs in, fills the settings, saves, tests the connection, runs Search Now, unchecks one change
// and syncs; the users appear, the unchecked one does not, and the next Search Now proposes it
// again.

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');
const {
  ADDRESS,
  accountUrl,
  demo,
  fillAndSaveSettings,
  followRunToPlan,
  followRunToResult,
  keepAdminSession,
  launch,
  openPlanCategory,
  screenshot,
  searchNow,
  signIn,
  userListed,
} = require('./console.js');

describe('the guide in the console', () => {
  let browser;
  let context;
  let page;
  let unchecked;
  let added;

  before(async () => {
    browser = await launch();
    context = await browser.newContext();
    page = await context.newPage();
  });
  after(() => browser?.close());

  test('an organization admin signs in with the demo’s login and lands in their account', async () => {
    await page.goto(demo.url);
    await screenshot(page, 'login');
    await signIn(page);
    await keepAdminSession(context);
    assert.match(new URL(page.url()).pathname, /^\/accounts\/[^/]+\//, 'an admin starts in their account');
  });

  test('Step 2: the settings form with the guide’s labels saves and confirms', async () => {
    await page.goto(accountUrl('/import/azure'));
    await screenshot(page, 'import-azure');
    await fillAndSaveSettings(page);
    await screenshot(page, 'import-azure-saved');
    // The key is write-only: saved, it is never shown again, not even in the page's source.
    assert.ok(!(await page.content()).includes(demo.key), 'the saved key is not in the page');
    await page.getByText(/^Set on /).waitFor();
  });

  test('Test connection shows every step of the checklist passing', async () => {
    await page.getByRole('button', { name: 'Test connection', exact: true }).click();
    await page.getByText('The connection works').waitFor();
    for (const step of ['Tenant resolves', 'Authentication', 'Users readable', 'Groups readable']) {
      await page.getByText(`${step}: passed`).waitFor();
    }
    await screenshot(page, 'test-connection');
  });

  test('Search Now shows the run, then the plan by category with a checkbox per change', async () => {
    await page.goto(accountUrl('/import/azure'));
    await page.getByRole('button', { name: 'Search Now', exact: true }).click();
    await page.waitForURL(/\/runs\//);
    await screenshot(page, 'run-progress');
    await followRunToPlan(page);
    await screenshot(page, 'plan');
    await openPlanCategory(page, 'Users to add');
    const changes = page.getByRole('checkbox', { name: ADDRESS });
    assert.ok((await changes.count()) >= 2, 'the plan proposes users to add');
    for (const change of await changes.all()) {
      assert.ok(await change.isChecked(), 'every change is checked by default');
    }
  });

  test('unchecking one change, then Sync Active Directory, applies the others only', async () => {
    const changes = page.getByRole('checkbox', { name: ADDRESS });
    const labelOf = (box) => box.evaluate((el) => el.labels?.[0]?.innerText ?? el.getAttribute('aria-label'));
    unchecked = (await labelOf(changes.nth(0))).match(ADDRESS)[0];
    added = (await labelOf(changes.nth(1))).match(ADDRESS)[0];
    // The box's change is kept by the server as it happens (htmx posts the selection).
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/selection')),
      changes.nth(0).uncheck(),
    ]);
    await page.getByRole('button', { name: 'Sync Active Directory' }).click();
    await followRunToResult(page);
    await screenshot(page, 'sync-result');
  });

  test('the synced users appear, and the unchecked one does not', async () => {
    assert.ok(await userListed(page, added), `${added} was added`);
    await screenshot(page, 'users-search');
    assert.ok(!(await userListed(page, unchecked)), `${unchecked} was unchecked and not added`);
    await page.goto(accountUrl('/users'));
    await screenshot(page, 'users');
  });

  test('the next Search Now proposes the unchecked change again', async () => {
    await searchNow(page);
    await openPlanCategory(page, 'Users to add');
    const again = page.getByRole('checkbox', { name: ADDRESS });
    const labels = await Promise.all(
      (await again.all()).map((box) => box.evaluate((el) => el.labels?.[0]?.innerText ?? '')),
    );
    assert.ok(labels.some((label) => label.includes(unchecked)), `${unchecked} is proposed again`);
    assert.ok(!labels.some((label) => label.includes(added)), `${added} is not proposed again`);
    await screenshot(page, 'plan-again');
  });
});
