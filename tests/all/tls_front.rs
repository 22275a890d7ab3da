//! A TLS-terminating front for the tests' plain HTTP servers: a real rustls server on 127.0.0.1 with
//! a certificate made for the test, forwarding every connection to a backend port. The certificate's
//! PEM file is what the `keel` processes under test trust (`SSL_CERT_FILE`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A running front; it stops with the runtime it was started on.
pub(crate) struct TlsFront {
    pub(crate) port: u16,
    /// The certificate to trust, as PEM.
    pub(crate) ca_file: PathBuf,
}

impl TlsFront {
    /// Serves TLS for `localhost` on a free port, forwarding to `127.0.0.1:backend`; writes the
    /// certificate into `dir`.
    pub(crate) async fn start(backend: u16, dir: &Path) -> TlsFront {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a test certificate");
        let ca_file = dir.join("test-ca.pem");
        std::fs::write(&ca_file, certified.cert.pem()).expect("writing the certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let chain: Vec<CertificateDer<'static>> = vec![certified.cert.der().clone()];
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a TLS server configuration");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to forward.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) =
                        tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront { port, ca_file }
    }

    /// `https://localhost:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}
