//! TLS certificate problems fail at once, naming the problem: unlike a dropped connection they
//! never clear by themselves, so retrying them would only delay the admin's fix by minutes.

use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair};
use roster_graph::{ClientOptions, GraphClient, GraphError};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::{CLIENT_ID, TENANT, connection_settings, options, read_all};

/// A self-signed certificate for `names`, valid from `days_from_now.0` to `days_from_now.1`
/// days from now, and its PEM.
fn certificate(names: &[&str], days_from_now: (i64, i64)) -> (ServerConfig, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(days_from_now.0);
    params.not_after = now + time::Duration::days(days_from_now.1);
    let certificate = params.self_signed(&key).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    (config, certificate.pem().into_bytes())
}

/// An HTTPS server on 127.0.0.1 presenting `config`'s certificate; its URL. It counts nothing:
/// the client gives up during the handshake.
async fn https_server(config: ServerConfig) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let acceptor = TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    url
}

/// The error of a full read against a server presenting `config`'s certificate, and how many
/// token requests the client made.
async fn read_against(config: ServerConfig, trusted_pem: Option<Vec<u8>>) -> (GraphError, u64) {
    let url = https_server(config).await;
    let options = ClientOptions {
        extra_root_certificates_pem: trusted_pem.unwrap_or_default(),
        ..options()
    };
    let client = GraphClient::new(
        &connection_settings(TENANT, CLIENT_ID, &url, &url),
        SecretString::from("s"),
        options,
    )
    .unwrap();
    let error = read_all(client.read_full()).await.unwrap_err();
    (error, client.stats().token_requests)
}

fn assert_certificate_error(error: &GraphError, expected: &str) {
    match error {
        GraphError::Certificate { host, problem, .. } => {
            assert_eq!(host, "127.0.0.1");
            assert!(problem.contains(expected), "{error}");
        }
        other => panic!("a certificate error naming {expected:?}, not {other:?}"),
    }
    let shown = format!("{error} {}", error.fix());
    assert!(
        shown.contains("did not retry") && shown.contains("proxy"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_certificate_from_an_unknown_issuer_fails_at_once_naming_it() {
    let (config, _) = certificate(&["127.0.0.1"], (-1, 30));
    let (error, attempts) = read_against(config, None).await;
    assert_certificate_error(&error, "unknown issuer");
    assert_eq!(attempts, 1, "not retried");
}

#[tokio::test]
async fn an_expired_certificate_fails_at_once_naming_it() {
    let (config, pem) = certificate(&["127.0.0.1"], (-30, -1));
    let (error, attempts) = read_against(config, Some(pem)).await;
    assert_certificate_error(&error, "expired");
    assert_eq!(attempts, 1, "not retried");
}

#[tokio::test]
async fn a_certificate_for_another_host_fails_at_once_naming_the_mismatch() {
    let (config, pem) = certificate(&["graph.example.com"], (-1, 30));
    let (error, attempts) = read_against(config, Some(pem)).await;
    assert_certificate_error(&error, "name mismatch");
    assert!(error.to_string().contains("graph.example.com"), "{error}");
    assert_eq!(attempts, 1, "not retried");
}
