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
  roster,
  screenshot,
  searchNow,
  signIn,
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

  test('my profile (/me)', async () => {
    const response = await page.goto(new URL('/me', demo.url).href);
    assert.equal(response.status(), 200, '/me is served');
    await screenshot(page, 'page-me');
    await assertAccessible(page, '/me');
  });

  test('an error page', async () => {
    const response = await page.goto(new URL('/no/such/page', demo.url).href);
    assert.equal(response.status(), 404, 'an unknown page is not found');
    await screenshot(page, 'page-error');
    await assertAccessible(page, 'the error page');
  });

  test('the invitation page', async () => {
    const invited = await (await browser.newContext()).newPage();
    // The form is shown for any token; the token is checked when the password is sent.
    const response = await invited.goto(new URL('/invitations/accept?token=shown-before-it-is-checked', demo.url).href);
    assert.equal(response.status(), 200, 'the invitation page is served');
    await screenshot(invited, 'page-invitation');
    await assertAccessible(invited, 'the invitation page');
  });

  test('the operator’s accounts (/accounts)', async () => {
    const email = 'operator@roster.example';
    const password = 'an operator password long enough';
    roster(['operator', 'create', '--email', email], password);
    const operator = await (await browser.newContext()).newPage();
    await signIn(operator, email, password);
    const response = await operator.goto(new URL('/accounts', demo.url).href);
    assert.equal(response.status(), 200, '/accounts is served to an operator');
    await screenshot(operator, 'page-accounts');
    await assertAccessible(operator, '/accounts');
  });

  test('a plan', async () => {
    await searchNow(page);
    await screenshot(page, 'page-plan');
    await assertAccessible(page, 'the plan');
  });
});
