"""The token endpoint through MSAL and azure-identity (client credentials)."""

import base64
import json

import msal
import pytest
from azure.core.exceptions import ClientAuthenticationError

from conftest import GRAPH_SCOPE, credential


def confidential_app(sim, secret=None, tenant=None, **discovery):
    """MSAL's confidential client with the simulated tenant's authority.

    For a host MSAL does not know, it checks the authority with Microsoft's instance discovery
    endpoint on login.microsoftonline.com unless told otherwise: `instance_discovery=False`
    (skip the check) or an instance discovery URL of our own. By default the first.
    """
    discovery = discovery or {"instance_discovery": False}
    return msal.ConfidentialClientApplication(
        sim.client_id,
        client_credential=secret or sim.client_secret,
        authority=f"{sim.login_url}/{tenant or sim.tenant_id}",
        **discovery,
    )


def claims(access_token: str) -> dict:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_msal_acquires_an_app_token_with_the_graph_default_scope(sim):
    result = confidential_app(sim).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    assert result["token_source"] == "identity_provider"
    token = claims(result["access_token"])
    assert token["tid"] == sim.tenant_id
    assert token["appid"] == sim.client_id
    assert "Directory.Read.All" in token["roles"]


def test_msal_serves_the_second_request_from_its_cache(sim):
    app = confidential_app(sim)
    first = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    second = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]


def test_msal_accepts_a_verified_domain_as_the_tenant(sim):
    result = confidential_app(sim, tenant=sim.tenant).acquire_token_for_client(
        scopes=[GRAPH_SCOPE]
    )
    assert claims(result["access_token"])["tid"] == sim.tenant_id


def test_msal_validates_the_authority_through_the_simulators_instance_discovery(sim):
    app = confidential_app(
        sim, instance_discovery=f"{sim.login_url}/common/discovery/instance"
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result


def test_msal_with_validate_authority_off_needs_no_instance_discovery(sim):
    app = confidential_app(sim, validate_authority=False)
    assert "access_token" in app.acquire_token_for_client(scopes=[GRAPH_SCOPE])


def test_msal_surfaces_a_wrong_secret_as_aadsts7000215(sim):
    result = confidential_app(sim, secret="not-the-secret").acquire_token_for_client(
        scopes=[GRAPH_SCOPE]
    )
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: ")


def causes(error: BaseException) -> str:
    """The messages of an exception and of every exception it was raised from or during."""
    messages = []
    while error is not None:
        messages.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(messages)


def test_msal_refuses_an_unknown_tenant_at_discovery(sim):
    # MSAL reads the tenant's OpenID configuration before it asks for a token, so an unknown
    # tenant fails there: MSAL's own message asks to check the tenant, and the error it was
    # raised from carries Entra's AADSTS90002 body.
    with pytest.raises(ValueError, match="double check your tenant name") as raised:
        confidential_app(sim, tenant="unknown-tenant.example")
    assert "AADSTS90002: Tenant 'unknown-tenant.example' not found" in causes(raised.value)


def test_msal_with_the_common_authority_surfaces_aadsts9001023(sim):
    # /common has a discovery document, so the app is built; MSAL warns, and the token endpoint
    # then refuses client credentials there.
    app = confidential_app(sim, tenant="common")
    with pytest.warns(DeprecationWarning, match="/common or /organizations"):
        result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result["error"] == "invalid_request"
    assert result["error_codes"] == [9001023]


def test_msal_surfaces_a_bad_scope_as_invalid_scope(sim):
    result = confidential_app(sim).acquire_token_for_client(
        scopes=["https://outlook.office365.com/.default"]
    )
    assert result["error"] == "invalid_scope"
    assert result["error_codes"] == [70011]


def test_azure_identity_gets_a_token_from_a_custom_authority_host(sim):
    token = credential(sim).get_token(GRAPH_SCOPE)
    assert claims(token.token)["tid"] == sim.tenant_id
    assert token.expires_on > 0


def test_azure_identity_surfaces_a_wrong_secret_as_aadsts7000215(sim):
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        credential(sim, secret="not-the-secret").get_token(GRAPH_SCOPE)


def test_azure_identity_surfaces_an_unknown_tenant(sim):
    with pytest.raises(ClientAuthenticationError, match="double check your tenant name") as raised:
        credential(sim, tenant="unknown-tenant.example").get_token(GRAPH_SCOPE)
    assert "AADSTS90002" in causes(raised.value)


def test_azure_identity_surfaces_a_bad_scope(sim):
    with pytest.raises(ClientAuthenticationError, match="AADSTS70011"):
        credential(sim).get_token("https://outlook.office365.com/.default")
