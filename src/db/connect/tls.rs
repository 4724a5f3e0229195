//! TLS with libpq's `sslmode` semantics on rustls: root and client certificates, the
//! verifiers for each mode, and TLS failures explained.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::{ConnInfo, ConnectError, RootCert, SslMode};

impl ConnInfo {
    pub(super) fn tls_error(
        &self,
        reason: impl Into<String>,
        hint: impl Into<String>,
    ) -> ConnectError {
        ConnectError::Tls {
            target: self.describe(),
            reason: reason.into(),
            hint: hint.into(),
        }
    }

    /// The roots a verifying mode checks against, in words (for error messages).
    fn roots_text(&self) -> String {
        match &self.sslrootcert {
            RootCert::File {
                path,
                default: true,
            } => format!("{} (the default root certificate file)", path.display()),
            RootCert::File { path, .. } => path.display().to_string(),
            RootCert::System | RootCert::Unset => "the system's trusted roots".to_string(),
        }
    }

    /// How the server certificate is checked under `mode`: None = not at all.
    pub(super) fn verification(&self, mode: SslMode) -> Option<Verify> {
        match mode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => None,
            // libpq: `require` verifies the chain when a root certificate file exists.
            SslMode::Require => match self.sslrootcert {
                RootCert::File { ref path, .. } if path.is_file() => Some(Verify::Chain),
                _ => None,
            },
            SslMode::VerifyCa => Some(Verify::Chain),
            SslMode::VerifyFull => Some(Verify::ChainAndName),
        }
    }

    fn load_roots(&self) -> Result<RootCertStore, ConnectError> {
        let mut roots = RootCertStore::empty();
        match &self.sslrootcert {
            RootCert::File { path, .. } => {
                if !path.is_file() {
                    return Err(self.tls_error(
                        format!("root certificate file {} does not exist", path.display()),
                        "give the CA certificate of the server with sslrootcert=FILE, use \
                         sslrootcert=system for the system's trusted roots, or use \
                         sslmode=require to encrypt without verifying",
                    ));
                }
                let unreadable = |e: &dyn fmt::Display| {
                    self.tls_error(
                        format!("cannot read root certificate file {}: {e}", path.display()),
                        "sslrootcert must be a PEM file with one or more certificates",
                    )
                };
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| unreadable(&e))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| unreadable(&e))?;
                if certs.is_empty() {
                    return Err(unreadable(&"no PEM certificate in it"));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| unreadable(&e))?;
                }
            }
            RootCert::System | RootCert::Unset => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
                if roots.is_empty() {
                    return Err(self.tls_error(
                        "no trusted root certificates found in the system store",
                        "install the ca-certificates package, or give the server's CA with \
                         sslrootcert=FILE",
                    ));
                }
            }
        }
        Ok(roots)
    }

    fn load_client_cert(
        &self,
        cert: &Path,
        key: &Path,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConnectError> {
        let unreadable = |path: &Path, e: &dyn fmt::Display| {
            self.tls_error(
                format!("cannot read {}: {e}", path.display()),
                "sslcert/sslkey must be PEM files (an unencrypted private key)",
            )
        };
        #[cfg(unix)]
        {
            // libpq refuses a private key others can read (root-owned may be 0640).
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(key).map_err(|e| unreadable(key, &e))?;
            let loose = if meta.uid() == 0 { 0o037 } else { 0o077 };
            if meta.mode() & loose != 0 {
                return Err(self.tls_error(
                    format!(
                        "private key file {} has group or world access",
                        key.display()
                    ),
                    format!("chmod 0600 {}", key.display()),
                ));
            }
        }
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| unreadable(cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unreadable(cert, &e))?;
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| unreadable(key, &e))?;
        Ok((chain, private))
    }

    /// The rustls configuration for `mode`, with the ring provider chosen explicitly.
    pub(super) fn tls_config(&self, mode: SslMode) -> Result<ClientConfig, ConnectError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match self.verification(mode) {
            None => Arc::new(NoVerification(provider.clone())),
            Some(how) => {
                let webpki = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(self.load_roots()?),
                    provider.clone(),
                )
                .build()
                .map_err(|e| {
                    self.tls_error(
                        format!("cannot use the root certificates: {e}"),
                        format!("check {}", self.roots_text()),
                    )
                })?;
                match how {
                    Verify::Chain => Arc::new(ChainOnly(webpki)),
                    Verify::ChainAndName => webpki,
                }
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.tls_error(e.to_string(), "this is a bug in retort's TLS setup"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match (&self.client_cert, mode) {
            (Some((cert, key)), m) if m != SslMode::Disable => {
                let (chain, private) = self.load_client_cert(cert, key)?;
                builder.with_client_auth_cert(chain, private).map_err(|e| {
                    self.tls_error(
                        format!("unusable client certificate {}: {e}", cert.display()),
                        "check that sslcert and sslkey belong together",
                    )
                })?
            }
            _ => builder.with_no_client_auth(),
        };
        // What libpq 17 sends; PostgreSQL 17 requires it for sslnegotiation=direct.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(config)
    }

    pub(super) fn tls_failure(&self, error: &rustls::Error) -> ConnectError {
        let verify_hint = match (&self.sslrootcert, self.sslmode) {
            // libpq's rule made `require` verify: say so, or the advice goes in circles.
            (RootCert::File { path, .. }, SslMode::Require) => format!(
                "the certificate was checked against {} because that file exists (with a root \
                 certificate file, sslmode=require verifies the chain, as in libpq): put the \
                 server's CA in it, or point sslrootcert at the right file",
                path.display()
            ),
            _ => format!(
                "the certificate was checked against {} (sslmode={}): give the server's CA with \
                 sslrootcert=FILE, or use sslmode=require to encrypt without verifying",
                self.roots_text(),
                self.sslmode
            ),
        };
        let (reason, hint) = match error {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => (
                "the server's certificate is not signed by a trusted root certificate (unknown issuer)"
                    .to_string(),
                verify_hint,
            ),
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => (
                format!(
                    "the server's certificate is not valid for the host name \"{}\"",
                    self.host_text()
                ),
                "connect with a host name the certificate names, or use sslmode=verify-ca to \
                 check the certificate without the host name"
                    .to_string(),
            ),
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            ) => (
                "the server's certificate has expired".to_string(),
                "renew the server's certificate (or check this machine's clock)".to_string(),
            ),
            rustls::Error::InvalidCertificate(other) => (
                format!("the server's certificate was rejected: {other:?}"),
                verify_hint,
            ),
            other => (
                other.to_string(),
                format!(
                    "check sslmode (now {}) and the server's TLS settings",
                    self.sslmode
                ),
            ),
        };
        self.tls_error(reason, hint)
    }
}

pub(super) enum Verify {
    Chain,
    ChainAndName,
}

/// `prefer` / `require` without a root certificate: encrypt, trust any certificate
/// (libpq's behaviour). Handshake signatures are still checked, so the session is bound
/// to the key in the certificate that was presented.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full WebPKI check minus the host name. WebPKI checks the chain
/// before the name, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
