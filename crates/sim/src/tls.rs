//! Optional HTTPS for the login and Graph surfaces.
//!
//! MSAL refuses an authority that is not `https`, so to run Microsoft's own libraries against the
//! simulator it can serve TLS. Each start generates its own self-signed certificate and key for
//! `localhost`, `127.0.0.1` and `::1`; the key never leaves the process, so trusting one run's
//! certificate trusts nothing else. Clients trust [`crate::RunningSim::certificate_pem`], which
//! `roster sim --tls --cert-out FILE` writes to FILE.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::server::TlsStream;

/// A client that has not finished its handshake by then is dropped, so it cannot stall others.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a generated certificate is valid: longer than any run of the simulator.
const VALIDITY: time::Duration = time::Duration::days(365);

/// The names the certificate is valid for: every way a client on this machine reaches loopback.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The TLS side of one simulator: the acceptor holding the key, and the certificate to trust.
pub struct LoopbackTls {
    pub acceptor: TlsAcceptor,
    pub certificate_pem: String,
}

/// Generates a fresh key and self-signed loopback certificate, and an acceptor serving them.
pub fn generate() -> io::Result<LoopbackTls> {
    let invalid = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
    let key = KeyPair::generate().map_err(|e| invalid(&e))?;
    let mut params =
        CertificateParams::new(LOOPBACK_NAMES.map(str::to_owned)).map_err(|e| invalid(&e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "roster-sim loopback");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Python's strict verification (3.13) wants the authority key identifier, even self-signed.
    params.use_authority_key_identifier_extension = true;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + VALIDITY;
    let certificate = params.self_signed(&key).map_err(|e| invalid(&e))?;
    let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![certificate.der().clone()], private_key)
        .map_err(|e| invalid(&e))?;
    // Only HTTP/1.1 is offered: the servers are built without axum's HTTP/2 support.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(LoopbackTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        certificate_pem: certificate.pem(),
    })
}

/// A TCP listener whose connections are TLS sessions.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Self { tcp, acceptor }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Accept errors (such as running out of file descriptors) are transient: retry.
            let Ok((stream, address)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // A failed or slow handshake only loses that one connection.
            if let Ok(Ok(tls)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await
            {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
