'use strict';
// The core flow with JavaScript disabled: plain forms and links carry it, htmx only enhances.
// Signs in, saves the settings, runs Search Now (the run page refreshes itself until the plan is
// ready) and applies the plan, which after the guide's run holds the change left unchecked there.

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');
const {
  fillAndSaveSettings,
  followRunToResult,
  launch,
  screenshot,
  searchNow,
  signIn,
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

  test('Sync Active Directory applies the plan and shows the result', async () => {
    await page.getByRole('button', { name: 'Sync Active Directory' }).click();
    await followRunToResult(page);
    await screenshot(page, 'sync-result-without-javascript');
  });
});
