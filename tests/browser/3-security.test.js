'use strict';
// What the console refuses: a wrong key is explained, a write without the CSRF token is refused,
// a silent user cannot sign in, and an admin of one account does not see another's pages.

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');
const {
  accountUrl,
  adminContext,
  demo,
  enterKey,
  launch,
  roster,
  screenshot,
  signIn,
} = require('./console.js');

/** The account's pages; every one of them belongs to the account in its path. */
const ACCOUNT_PAGES = [
  '/profile',
  '/domains',
  '/users',
  '/groups',
  '/import/azure',
  '/runs',
  '/tokens',
  '/notifications',
];

/** The CSRF token of the context's session, as the API gives it. */
async function csrfToken(context) {
  const session = await context.request.get(new URL('/api/v1/session', demo.url).href);
  assert.equal(session.status(), 200, 'the context is signed in');
  return (await session.json()).csrf_token;
}

/** A JSON request through the context's session, with its CSRF token. */
async function api(context, method, tail, body) {
  const response = await context.request.fetch(new URL(tail, demo.url).href, {
    method,
    headers: { 'X-CSRF-Token': await csrfToken(context) },
    data: body,
  });
  assert.ok(response.ok(), `${method} ${tail}: ${response.status()} ${await response.text()}`);
  return response.status() === 204 ? null : response.json();
}

describe('what the console refuses', () => {
  let browser;
  let admin;
  let page;

  before(async () => {
    browser = await launch();
    admin = await adminContext(browser);
    page = await admin.newPage();
  });
  after(() => browser?.close());

  test('a wrong key is explained: paste the secret’s value, not its ID', async () => {
    const secretId = '3f1c2b7e-9a4d-4c61-8e2f-5b0d7a9c1e43';
    await page.goto(accountUrl('/import/azure'));
    await enterKey(page, secretId);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('status').filter({ hasText: /saved/i }).first().waitFor();
    assert.ok(!(await page.content()).includes(secretId), 'the key entered is not echoed back');
    await page.getByRole('button', { name: 'Test connection', exact: true }).click();
    await page.getByText(/secret'?s value, not its (secret )?id/i).first().waitFor();
    await screenshot(page, 'test-connection-wrong-key');
    // The demo's other tests go on with the right key.
    await page.goto(accountUrl('/import/azure'));
    await enterKey(page, demo.key);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('status').filter({ hasText: /saved/i }).first().waitFor();
  });

  test('a console form posted without its CSRF token is refused and changes nothing', async () => {
    await page.goto(accountUrl('/import/azure'));
    const save = page.getByRole('button', { name: 'Save', exact: true });
    const { action, fields } = await save.evaluate((button) => ({
      action: button.form.action,
      fields: [...new FormData(button.form)].filter(([, value]) => typeof value === 'string'),
    }));
    const post = (entries) =>
      admin.request.post(action, {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        data: new URLSearchParams(entries).toString(),
        maxRedirects: 0,
      });
    const withoutToken = fields
      .filter(([name]) => name !== 'csrf_token')
      .map(([name, value]) => [name, value === demo.primary_domain ? 'evil.example' : value]);
    assert.equal((await post(withoutToken)).status(), 403, 'the post without the token is refused');
    await page.goto(accountUrl('/import/azure'));
    assert.equal(await page.getByLabel('Primary Domain').inputValue(), demo.primary_domain);
    // The same form with its token goes through: the refusal was the token's.
    const accepted = await post(fields);
    assert.ok(accepted.status() < 400, `the form with its token is accepted (${accepted.status()})`);
  });

  test('a silent user cannot sign in, even one who had a password', async () => {
    const address = `silent.test@${demo.primary_domain}`;
    const password = 'a long password for the test';
    const user = await api(admin, 'POST', `/api/v1/accounts/${demo.account}/users`, {
      primary_address: address,
      role: 'end_user',
    });
    const invitation = await api(admin, 'POST', `/api/v1/accounts/${demo.account}/users/${user.id}/invite`);
    // The invitation link is opened without a session, as the invited user would.
    const invited = await browser.newContext();
    const accepted = await invited.request.post(new URL('/api/v1/invitations/accept', demo.url).href, {
      data: { token: invitation.token, password },
    });
    assert.equal(accepted.status(), 204, await accepted.text());

    const endUser = await invited.newPage();
    await signIn(endUser, address, password);
    await endUser.goto(new URL('/me', demo.url).href);
    await screenshot(endUser, 'me');

    await api(admin, 'PATCH', `/api/v1/accounts/${demo.account}/users/${user.id}`, {
      role: 'silent_user',
    });
    // Turned silent, the user is signed out at once and cannot sign in again.
    await endUser.goto(new URL('/me', demo.url).href);
    assert.match(endUser.url(), /\/login/);
    const again = await (await browser.newContext()).newPage();
    await again.goto(new URL('/login', demo.url).href);
    await again.getByLabel('Email address').fill(address);
    await again.getByLabel('Password').fill(password);
    await again.getByRole('button', { name: 'Sign in' }).click();
    await again.getByRole('alert').first().waitFor();
    assert.match(again.url(), /\/login/);
    assert.equal(await again.getByText('Signed in as').count(), 0);
    await screenshot(again, 'login-refused');
  });

  test('an admin of another account gets 404 on this account’s pages and writes', async () => {
    const other = 'other-demo';
    const otherLogin = `admin@${other}.example`;
    const otherPassword = 'another long password';
    roster(['account', 'create', '--name', other, '--domain', `${other}.example`, '--json']);
    roster(['admin', 'create', '--account', other, '--email', otherLogin], otherPassword);

    const context = await browser.newContext();
    const otherPage = await context.newPage();
    await signIn(otherPage, otherLogin, otherPassword);
    const own = new URL(otherPage.url()).pathname.match(/^\/accounts\/([^/]+)\//)[1];
    for (const tail of ACCOUNT_PAGES) {
      const mine = await otherPage.goto(accountUrl(tail, own));
      assert.equal(mine.status(), 200, `${tail} of ${other} is served to its admin`);
      const theirs = await otherPage.goto(accountUrl(tail));
      assert.equal(theirs.status(), 404, `${tail} of ${demo.account} is not found for ${other}'s admin`);
    }
    await screenshot(otherPage, 'not-found');
    const searchNow = await context.request.post(accountUrl('/import/azure/search'), {
      form: { csrf_token: await csrfToken(context) },
      maxRedirects: 0,
    });
    assert.equal(searchNow.status(), 404, 'Search Now of another account is not found');
  });
});
