'use strict';
// axe-core on every main page of the console, after the guide's run has filled them: no serious
// or critical violation. Each page is also kept as a screenshot.

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');
const {
  accountUrl,
  adminContext,
  assertAccessible,
  demo,
  launch,
  screenshot,
  searchNow,
} = require('./console.js');

/** The pages an admin reaches from the navigation, by the name their screenshot gets. */
const PAGES = {
  profile: '/profile',
  domains: '/domains',
  users: '/users',
  groups: '/groups',
  'import-azure': '/import/azure',
  runs: '/runs',
  tokens: '/tokens',
  notifications: '/notifications',
};

describe('accessibility of the main pages', () => {
  let browser;
  let page;

  before(async () => {
    browser = await launch();
    page = await (await adminContext(browser)).newPage();
  });
  after(() => browser?.close());

  test('the sign-in page', async () => {
    const signedOut = await (await browser.newContext()).newPage();
    await signedOut.goto(new URL('/login', demo.url).href);
    await screenshot(signedOut, 'page-login');
    await assertAccessible(signedOut, 'the sign-in page');
  });

  for (const [name, tail] of Object.entries(PAGES)) {
    test(`${name} (${tail})`, async () => {
      const response = await page.goto(accountUrl(tail));
      assert.equal(response.status(), 200, `${tail} is served`);
      await screenshot(page, `page-${name}`);
      await assertAccessible(page, tail);
    });
  }

  /** Opens the first link of a list page to one of its items, e.g. /users/{user}. */
  async function openFirst(listTail, name) {
    await page.goto(accountUrl(listTail));
    // The console links an account by its id; the demo prints its slug, which also resolves.
    const item = new RegExp(`^/accounts/[^/]+${listTail}/[^/.]+$`);
    for (const link of await page.getByRole('main').getByRole('link').all()) {
      const href = await link.getAttribute('href');
      if (href && item.test(new URL(href, page.url()).pathname)) {
        await link.click();
        await screenshot(page, `page-${name}`);
        await assertAccessible(page, name);
        return;
      }
    }
    assert.fail(`${listTail} links to at least one of its items`);
  }

  test('a user', () => openFirst('/users', 'user'));
  test('a group', () => openFirst('/groups', 'group'));
  test('a run and its report', () => openFirst('/runs', 'run'));

  test('a plan', async () => {
    await searchNow(page);
    await screenshot(page, 'page-plan');
    await assertAccessible(page, 'the plan');
  });
});
