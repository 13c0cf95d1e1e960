"""One `roster sim --tls` for the whole run, and the clients a sync would build against it.

The simulator writes the certificate it generated to $ROSTER_SIM_CERT (run.sh points the
libraries' CA variables there) before it prints its start-up line.

Tests that change the tenant's settings or the app's roles put them back (see `control`), so
the order tests run in does not matter. Graph SDK tests are `async def`; `pytest_pyfunc_call`
runs each in a fresh event loop, which is all the async support they need.
"""

import asyncio
import inspect
import json
import os
import subprocess
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from azure.identity import ClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True)
class Sim:
    login_url: str
    graph_url: str
    control_url: str
    tenant: str
    tenant_id: str
    client_id: str
    client_secret: str

    @property
    def graph_host(self) -> str:
        """The Graph host name without its port, as kiota's allowed-hosts check compares it."""
        return urlsplit(self.graph_url).hostname


@pytest.fixture(scope="session")
def sim():
    command = [
        os.environ["ROSTER_BIN"], "sim", "--tls", "--cert-out", os.environ["ROSTER_SIM_CERT"],
        "--listen", "127.0.0.1:0", "--users", "300", "--groups", "30", "--seed", "11",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"roster sim exited ({process.wait()}) before announcing itself")
        announced = json.loads(line)
        yield Sim(**{field: announced[field] for field in Sim.__dataclass_fields__})
    finally:
        process.terminate()
        process.wait(timeout=10)


class Control:
    """The simulator's control API (plain HTTP, JSON in and out)."""

    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None


@pytest.fixture
def control(sim):
    """The control API, restoring the tenant's settings and the app's roles after the test."""
    control = Control(sim.control_url)
    settings = control.call("GET", "/settings")
    roles = control.call("GET", "/app")["roles"]
    yield control
    control.call("PATCH", "/settings", settings)
    control.call("PUT", "/app/roles", {"roles": roles})


def credential(sim: Sim, secret: str | None = None, tenant: str | None = None):
    """azure-identity's client-secret credential pointed at the simulated login host.

    `authority` takes the host; instance discovery must be off, because for a host it does not
    know MSAL (underneath azure-identity) would otherwise ask login.microsoftonline.com whether
    the authority is genuine.
    """
    return ClientSecretCredential(
        tenant or sim.tenant_id,
        sim.client_id,
        secret or sim.client_secret,
        authority=sim.login_url,
        disable_instance_discovery=True,
    )


def graph_client(sim: Sim, **credential_args) -> GraphServiceClient:
    """The Graph SDK as a sync client would configure it, aimed at the simulated Graph.

    Two settings are needed for a host that is not graph.microsoft.com: the authentication
    provider only attaches tokens to `allowed_hosts` (by default Microsoft's Graph hosts), and
    the adapter's base URL replaces the SDK's built-in https://graph.microsoft.com/v1.0.
    """
    provider = AzureIdentityAuthenticationProvider(
        credential(sim, **credential_args), scopes=[GRAPH_SCOPE], allowed_hosts=[sim.graph_host],
    )
    adapter = GraphRequestAdapter(provider)
    adapter.base_url = f"{sim.graph_url}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


@pytest.fixture
def graph(sim) -> GraphServiceClient:
    return graph_client(sim)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**arguments))
        return True
    return None
