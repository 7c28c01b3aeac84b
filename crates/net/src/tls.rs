//! SIP over TLS (RFC 3261 §26): the server certificate, reloaded from its PEM files
//! without dropping a call, and the client side for dial-out, which verifies the far end
//! against the system's trust anchors or a CA the operator names. rustls with its safe
//! defaults: TLS 1.2 and 1.3 only, no renegotiation, no compression.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{info, warn};

/// The process-wide crypto provider: ring (aws-lc-rs would need cmake to build).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: &str, path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} {}: {e}", path.display()),
    )
}

/// The listener's certificate and key, from PEM files, swapped whole on [`Self::reload`]:
/// connections already up keep the certificate they were made with.
#[derive(Debug)]
pub struct TlsServer {
    cert: PathBuf,
    key: PathBuf,
    config: RwLock<Arc<ServerConfig>>,
}

impl TlsServer {
    /// Loads the certificate chain and private key; an error names the file at fault.
    pub fn load(cert: &Path, key: &Path) -> io::Result<Arc<Self>> {
        let config = Self::read(cert, key)?;
        Ok(Arc::new(TlsServer {
            cert: cert.to_owned(),
            key: key.to_owned(),
            config: RwLock::new(config),
        }))
    }

    fn read(cert: &Path, key: &Path) -> io::Result<Arc<ServerConfig>> {
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| invalid("certificate", cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("certificate", cert, e))?;
        if chain.is_empty() {
            return Err(invalid("certificate", cert, "no certificate in the file"));
        }
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid("key", key, e))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| invalid("certificate and key", cert, e))?;
        Ok(Arc::new(config))
    }

    /// Reads the files again. A bad file leaves the old certificate in place.
    pub fn reload(&self) -> io::Result<()> {
        match Self::read(&self.cert, &self.key) {
            Ok(config) => {
                *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
                info!(cert = %self.cert.display(), "TLS certificate reloaded");
                Ok(())
            }
            Err(e) => {
                warn!(error = %e, "TLS certificate not reloaded; the old one stays");
                Err(e)
            }
        }
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(
            &self.config.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// How the bridge opens TLS connections (dial-out): whom it trusts and what name the far
/// end's certificate must carry.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl TlsClient {
    /// Trusts the PEM certificates in `ca`, else the system's roots; the far end must be
    /// `server_name` (else its IP address must be in its certificate).
    pub fn new(ca: Option<&Path>, server_name: Option<&str>) -> io::Result<Self> {
        let mut roots = RootCertStore::empty();
        match ca {
            Some(path) => {
                for cert in
                    CertificateDer::pem_file_iter(path).map_err(|e| invalid("CA", path, e))?
                {
                    let cert = cert.map_err(|e| invalid("CA", path, e))?;
                    roots.add(cert).map_err(|e| invalid("CA", path, e))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    // A system store with an odd certificate in it still serves the rest.
                    let _ = roots.add(cert);
                }
            }
        }
        if roots.is_empty() {
            warn!("no trusted CA for dial-out over TLS: every connection will be refused");
        }
        let server_name = server_name
            .map(|name| {
                ServerName::try_from(name.to_owned()).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("TLS name {name}: {e}"))
                })
            })
            .transpose()?;
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }

    pub(crate) fn connector(&self) -> TlsConnector {
        TlsConnector::from(Arc::clone(&self.config))
    }

    /// The name to verify for `peer`.
    pub(crate) fn name_for(&self, peer: std::net::SocketAddr) -> ServerName<'static> {
        self.server_name
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(peer.ip().into()))
    }
}
