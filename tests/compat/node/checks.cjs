// Checks run with Microsoft's JavaScript libraries (@azure/msal-node and
// @microsoft/microsoft-graph-client) against the simulator. test_node.py runs one check per
// process: `node checks.cjs NAME` with the simulator's announcement in ROSTER_SIM (JSON).
// A check throws on any disagreement; the process then exits non-zero with the reason.
"use strict";

const assert = require("node:assert/strict");
const msal = require("@azure/msal-node");
const graph = require("@microsoft/microsoft-graph-client");
const { ClientSecretCredential } = require("@azure/identity");
const {
  TokenCredentialAuthenticationProvider,
} = require("@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials");

// Absent when only listing the checks.
const sim = JSON.parse(process.env.ROSTER_SIM ?? "null");
const GRAPH_SCOPE = "https://graph.microsoft.com/.default";

// msal-node validates an authority through Microsoft's instance discovery unless the host is
// listed in knownAuthorities; then it reads the tenant's OpenID configuration from the host.
function confidentialApp(secret = sim.client_secret) {
  return new msal.ConfidentialClientApplication({
    auth: {
      clientId: sim.client_id,
      authority: `${sim.login_url}/${sim.tenant_id}`,
      clientSecret: secret,
      knownAuthorities: [new URL(sim.login_url).host],
    },
  });
}

// The client attaches tokens only to Microsoft's Graph hosts and to customHosts, which it
// compares without the port.
function graphClient() {
  const app = confidentialApp();
  return graph.Client.init({
    baseUrl: `${sim.graph_url}/`,
    defaultVersion: "v1.0",
    customHosts: new Set([new URL(sim.graph_url).hostname]),
    authProvider: (done) => {
      app
        .acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] })
        .then((result) => done(null, result.accessToken), (error) => done(error, null));
    },
  });
}

async function everyItem(client, firstPage) {
  const items = [];
  const iterator = new graph.PageIterator(client, firstPage, (item) => {
    items.push(item);
    return true;
  });
  await iterator.iterate();
  return items;
}

const checks = {
  async token() {
    const result = await confidentialApp().acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] });
    const claims = JSON.parse(Buffer.from(result.accessToken.split(".")[1], "base64url"));
    assert.equal(claims.tid, sim.tenant_id);
    assert.ok(claims.roles.includes("Directory.Read.All"));
  },

  // msal-node can also take the instance discovery answer as configuration instead of asking
  // login.microsoftonline.com: here it is the simulator's own answer for this authority.
  async cloudDiscoveryMetadata() {
    const authority = `${sim.login_url}/${sim.tenant_id}`;
    const discovery = new URL(`${sim.login_url}/common/discovery/instance`);
    discovery.searchParams.set("api-version", "1.1");
    discovery.searchParams.set("authorization_endpoint", `${authority}/oauth2/v2.0/authorize`);
    const metadata = await fetch(discovery);
    assert.equal(metadata.status, 200);
    const app = new msal.ConfidentialClientApplication({
      auth: {
        clientId: sim.client_id,
        authority,
        clientSecret: sim.client_secret,
        cloudDiscoveryMetadata: await metadata.text(),
      },
    });
    const result = await app.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] });
    assert.ok(result.accessToken);
  },

  async wrongSecret() {
    await assert.rejects(
      confidentialApp("not-the-secret").acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] }),
      (error) => error.errorCode === "invalid_client" && /AADSTS7000215/.test(error.errorMessage),
    );
  },

  // @azure/identity's credential with the Graph client's token-credential provider, the
  // pairing Microsoft documents for app-only Graph in JavaScript. Like its Python sibling it
  // needs the authority host and instance discovery off for a host Microsoft does not know.
  async azureIdentityDomains() {
    const credential = new ClientSecretCredential(sim.tenant_id, sim.client_id, sim.client_secret, {
      authorityHost: sim.login_url,
      disableInstanceDiscovery: true,
    });
    const client = graph.Client.initWithMiddleware({
      authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [GRAPH_SCOPE] }),
      baseUrl: `${sim.graph_url}/`,
      customHosts: new Set([new URL(sim.graph_url).hostname]),
    });
    const domains = (await client.api("/domains").get()).value;
    assert.ok(domains.some((domain) => domain.id === sim.tenant && domain.isDefault));
  },

  async azureIdentityWrongSecret() {
    const credential = new ClientSecretCredential(sim.tenant_id, sim.client_id, "not-the-secret", {
      authorityHost: sim.login_url,
      disableInstanceDiscovery: true,
    });
    await assert.rejects(credential.getToken(GRAPH_SCOPE), /AADSTS7000215/);
  },

  async usersPageIterator() {
    const client = graphClient();
    const first = await client.api("/users").select(["id", "mail", "accountEnabled"]).top(40).get();
    assert.equal(first.value.length, 40);
    const users = await everyItem(client, first);
    assert.ok(users.length > 200);
    assert.equal(new Set(users.map((user) => user.id)).size, users.length);
    assert.ok(users.every((user) => typeof user.accountEnabled === "boolean"));
  },

  async groupsDeltaRound() {
    const client = graphClient();
    let page = await client.api("/groups/delta").select(["id", "displayName", "members"]).get();
    const groups = [...page.value];
    while (page["@odata.nextLink"]) {
      page = await client.api(page["@odata.nextLink"]).get();
      groups.push(...page.value);
    }
    assert.ok(page["@odata.deltaLink"].includes("$deltatoken="));
    assert.equal(new Set(groups.map((group) => group.id)).size, 30);
    const members = groups.flatMap((group) => group["members@delta"] ?? []);
    assert.ok(members.some((member) => member["@odata.type"] === "#microsoft.graph.user"));
  },

  async batch() {
    const client = graphClient();
    const users = (await client.api("/users").top(3).get()).value;
    // The 3.0.7 BatchRequestContent strips scheme and host but keeps the version segment, which
    // Graph refuses (microsoftgraph/msgraph-sdk-javascript#1451); its documented workaround
    // is a URL on the Graph host without the version.
    const steps = users.map((user, i) => ({
      id: String(i + 1),
      request: new Request(`${sim.graph_url}/users/${user.id}?$select=id,mail`, { method: "GET" }),
    }));
    const content = new graph.BatchRequestContent(steps);
    const response = new graph.BatchResponseContent(
      await client.api("/$batch").post(await content.getContent()),
    );
    for (const [i, user] of users.entries()) {
      const item = response.getResponseById(String(i + 1));
      assert.equal(item.status, 200);
      assert.equal((await item.json()).id, user.id);
    }
  },

  // Spends the app+tenant budget with batches, then lists users: the client's RetryHandler must
  // wait out the 429's fractional Retry-After. test_node.py turns throttling off afterwards.
  async retryAfterThrottling() {
    const settings = await fetch(`${sim.control_url}/settings`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ throttle: true }),
    });
    assert.equal(settings.status, 200);
    const client = graphClient();
    const groups = (await client.api("/groups").select("id").get()).value;
    const requests = groups.slice(0, 20).map((group, i) => ({
      id: String(i + 1),
      method: "GET",
      url: `/groups/${group.id}/transitiveMembers`,
    }));
    let throttled = false;
    for (let i = 0; i < 100 && !throttled; i++) {
      const { responses } = await client.api("/$batch").post({ requests });
      throttled = responses.some((item) => item.status === 429);
    }
    assert.ok(throttled, "100 batches of 20 spend the budget of a 300-user tenant");
    // Throttled requests are charged too: a few more batches put the budget seconds in debt, so
    // that it has not refilled by the time the listing below arrives on a busy machine.
    for (let i = 0; i < 20; i++) {
      await client.api("/$batch").post({ requests });
    }
    await fetch(`${sim.control_url}/requests`, { method: "DELETE" });
    const users = await client.api("/users").select("id").top(999).get();
    assert.ok(users.value.length > 200);
    const counts = await (await fetch(`${sim.control_url}/requests`)).json();
    assert.ok(counts.byEndpoint["GET /v1.0/users"] >= 2, "the first attempt was throttled and retried");
  },

  // A request that depends on a failed one is not run: 424 (json-batching.md). The client
  // accepts only the documented shapes, here a serial batch.
  async batchDependsOn() {
    const client = graphClient();
    const user = (await client.api("/users").top(1).get()).value[0];
    const content = new graph.BatchRequestContent([
      { id: "1", request: new Request(`${sim.graph_url}/groups/00000000-0000-0000-0000-000000000002`) },
      { id: "2", request: new Request(`${sim.graph_url}/users/${user.id}`), dependsOn: ["1"] },
    ]);
    const response = new graph.BatchResponseContent(
      await client.api("/$batch").post(await content.getContent()),
    );
    assert.equal(response.getResponseById("1").status, 404);
    assert.equal(response.getResponseById("2").status, 424);
  },

  async notFound() {
    await assert.rejects(
      graphClient().api("/users/00000000-0000-0000-0000-000000000001").get(),
      (error) => error.statusCode === 404 && error.code === "Request_ResourceNotFound",
    );
  },
};

const name = process.argv[2];
if (name === "--list") {
  console.log(Object.keys(checks).join("\n"));
} else if (!(name in checks)) {
  console.error(`unknown check ${name}`);
  process.exit(2);
} else {
  checks[name]().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
