'use strict';
// The core flow with JavaScript disabled: plain forms and links carry it, htmx only enhances.
// Signs in, saves the settings, runs Search Now (the run page refreshes itself until the plan is
// ready), unchecks a change and presses Sync Active Directory at once: the change shown unchecked
// is not applied, though no "Save the choices" button was pressed.

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');
const {
  ADDRESS,
  fillAndSaveSettings,
  followRunToResult,
  launch,
  openPlanCategory,
  screenshot,
  searchNow,
  signIn,
  userListed,
} = require('./console.js');

describe('the core flow with JavaScript disabled', () => {
  let browser;
  let page;

  before(async () => {
    browser = await launch();
    const context = await browser.newContext({ javaScriptEnabled: false });
    page = await context.newPage();
  });
  after(() => browser?.close());

  test('signing in is a plain form', async () => {
    await signIn(page);
    assert.match(new URL(page.url()).pathname, /^\/accounts\/[^/]+\//, 'an admin starts in their account');
  });

  test('the settings save without JavaScript', async () => {
    await fillAndSaveSettings(page);
  });

  test('Search Now leads, through a run page that refreshes itself, to the plan', async () => {
    await searchNow(page);
    await screenshot(page, 'plan-without-javascript');
  });

  test('a change unchecked, then Sync Active Directory at once: what is shown checked is applied', async () => {
    await openPlanCategory(page, 'Users to add');
    const change = page.getByRole('checkbox', { name: ADDRESS }).first();
    const label = await change.evaluate((el) => el.labels?.[0]?.innerText ?? '');
    const unchecked = label.match(ADDRESS)[0];
    await change.uncheck();
    await page.getByRole('button', { name: 'Sync Active Directory' }).click();
    await followRunToResult(page);
    await screenshot(page, 'sync-result-without-javascript');
    assert.ok(!(await userListed(page, unchecked)), `${unchecked} was unchecked and not added`);
  });
});
