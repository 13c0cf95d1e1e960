"""The token endpoint through MSAL and azure-identity (client credentials)."""

import base64
import json
import urllib.error

import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError

from conftest import GRAPH_SCOPE, Control, credential


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


# Certificate credentials (graph-protocol.md §1a): MSAL signs the client assertion itself, so
# these show the simulator accepts what Microsoft's library sends, not only what Roster sends.

@pytest.fixture
def uploaded_certificate(sim):
    """A key pair and self-signed certificate made with `cryptography` (MSAL's own dependency),
    uploaded to the simulated app registration and removed again after the test."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MSAL compatibility")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    private_key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    sha1 = certificate.fingerprint(hashes.SHA1()).hex().upper()
    control = Control(sim.control_url)
    uploaded = control.call("POST", "/app/certificates", {"pem": certificate_pem})
    assert uploaded["thumbprint"] == sha1
    yield {"private_key": private_key_pem, "public_certificate": certificate_pem, "sha1": sha1}
    try:
        control.call("DELETE", f"/app/certificates/{sha1}")
    except urllib.error.HTTPError as error:  # a test that removed it already
        assert error.code == 404


class RecordingSession(requests.Session):
    """An HTTP client (MSAL's public `http_client` option) that keeps each form it posts."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def post(self, url, data=None, **kwargs):
        self.forms.append(data)
        return super().post(url, data=data, **kwargs)


def certificate_app(sim, client_credential, http_client=None):
    return msal.ConfidentialClientApplication(
        sim.client_id,
        client_credential=client_credential,
        authority=f"{sim.login_url}/{sim.tenant_id}",
        instance_discovery=False,
        http_client=http_client,
    )


def assertion_header(form: dict) -> dict:
    """The JOSE header of the client assertion in a token request's form."""
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in form
    assertion = form["client_assertion"]
    if isinstance(assertion, bytes):  # MSAL posts it as bytes
        assertion = assertion.decode()
    header = assertion.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))


def test_msal_signs_in_with_a_certificate_using_ps256_and_x5t_s256(sim, uploaded_certificate):
    # The current form: with the public certificate and no SHA-1 thumbprint, MSAL sends PS256
    # with x5t#S256 (and x5c).
    http = RecordingSession()
    app = certificate_app(sim, {
        "private_key": uploaded_certificate["private_key"],
        "public_certificate": uploaded_certificate["public_certificate"],
    }, http)
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    assert claims(result["access_token"])["appid"] == sim.client_id
    header = assertion_header(http.forms[-1])
    assert header["alg"] == "PS256" and "x5t#S256" in header, header


def test_msal_signs_in_with_a_sha1_thumbprint_using_rs256_and_x5t(sim, uploaded_certificate):
    http = RecordingSession()
    app = certificate_app(sim, {
        "private_key": uploaded_certificate["private_key"],
        "thumbprint": uploaded_certificate["sha1"],
    }, http)
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    header = assertion_header(http.forms[-1])
    assert header["alg"] == "RS256" and "x5t" in header, header


def test_msal_surfaces_a_removed_certificate_as_aadsts700027(sim, uploaded_certificate):
    Control(sim.control_url).call("DELETE", f"/app/certificates/{uploaded_certificate['sha1']}")
    app = certificate_app(sim, {
        "private_key": uploaded_certificate["private_key"],
        "public_certificate": uploaded_certificate["public_certificate"],
    })
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [700027]
