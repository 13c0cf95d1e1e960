//! Optional HTTPS for the login and Graph surfaces.
//!
//! MSAL refuses an authority that is not `https`, so to run Microsoft's own libraries against the
//! simulator it can serve TLS with a self-signed certificate for `localhost`, `127.0.0.1` and `::1`.
//! The key is committed on purpose: it only ever protects loopback test traffic. Clients trust
//! [`LOOPBACK_CERTIFICATE_PEM`] (also in `crates/sim/tls/loopback-cert.pem`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// The certificate the simulator presents over HTTPS; trust it as a root.
pub const LOOPBACK_CERTIFICATE_PEM: &str = include_str!("../tls/loopback-cert.pem");
const LOOPBACK_KEY_PEM: &str = include_str!("../tls/loopback-key.pem");

/// A client that has not finished its handshake by then is dropped, so it cannot stall others.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the TLS acceptor from the embedded loopback certificate.
pub fn acceptor() -> io::Result<TlsAcceptor> {
    let invalid =
        |e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let certificate = CertificateDer::from_pem_slice(LOOPBACK_CERTIFICATE_PEM.as_bytes())
        .map_err(|e| invalid(&e))?;
    let key =
        PrivateKeyDer::from_pem_slice(LOOPBACK_KEY_PEM.as_bytes()).map_err(|e| invalid(&e))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .map_err(|e| invalid(&e))?;
    // Only HTTP/1.1 is offered: the servers are built without axum's HTTP/2 support.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
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
