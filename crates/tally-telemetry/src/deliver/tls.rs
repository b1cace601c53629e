//! The TLS setup of every send: with the `rustls` feature, a rustls crypto
//! provider of tally's own, built from *ring*, holding only what a client
//! of a modern endpoint uses, so that the rest of *ring* and rustls is left
//! out of the host's binary by the linker; with `native-tls` alone, the
//! platform's TLS library and the platform's trusted roots. With rustls,
//! certificates are checked exactly as rustls's default provider checks
//! them: every signature algorithm it verifies is kept, against the webpki
//! roots.

#[cfg(feature = "rustls")]
use std::sync::Arc;

#[cfg(feature = "rustls")]
use rustls::SignatureScheme;
#[cfg(feature = "rustls")]
use rustls::crypto::ring::{cipher_suite, kx_group};
#[cfg(feature = "rustls")]
use rustls::crypto::{CryptoProvider, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms};
#[cfg(feature = "rustls")]
use rustls::pki_types::PrivateKeyDer;
#[cfg(feature = "rustls")]
use webpki::ring as algs;

/// The TLS stack chosen by the features: rustls when it is on, else the
/// platform's through native-tls. With neither, an `https://` endpoint fails
/// with ureq's error, which `telemetry status` shows as the last error.
pub(crate) fn config() -> ureq::tls::TlsConfig {
    #[cfg(feature = "rustls")]
    let roots = ureq::tls::RootCerts::WebPki;
    // The platform's TLS trusts the platform's roots (the Keychain, the
    // Windows store, OpenSSL's default paths): the store the user and the
    // admin keep, and nothing compiled in.
    #[cfg(not(feature = "rustls"))]
    let roots = ureq::tls::RootCerts::PlatformVerifier;
    with_roots(roots)
}

/// [`config`] trusting `roots` (the tests' own CA; every send uses the
/// roots [`config`] chooses).
fn with_roots(roots: ureq::tls::RootCerts) -> ureq::tls::TlsConfig {
    let b = ureq::tls::TlsConfig::builder().root_certs(roots);
    #[cfg(feature = "rustls")]
    let b = b.unversioned_rustls_crypto_provider(Arc::new(provider()));
    #[cfg(all(feature = "native-tls", not(feature = "rustls")))]
    let b = b.provider(ureq::tls::TlsProvider::NativeTls);
    b.build()
}

/// tally's rustls provider: TLS 1.3 with AES-GCM (what every current
/// server and collector offers; ChaCha20 and the TLS 1.2 suites are left
/// out, which is what keeps their code out of the binary), key exchange
/// X25519 or P-256, and every signature algorithm rustls's own *ring*
/// provider verifies (RSA PKCS#1 and PSS, ECDSA P-256 and P-384, Ed25519),
/// because real certificate chains use all of them. A client certificate is
/// never sent, so no private key is ever loaded.
#[cfg(feature = "rustls")]
pub(crate) fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &Random,
        key_provider: &NoKeys,
    }
}

/// The signature algorithms rustls's *ring* provider verifies, the same
/// list and the same mapping from TLS's signature schemes (a copy: rustls
/// keeps its own private, and taking it from `default_provider()` would
/// pull every suite of that provider into the binary).
#[cfg(feature = "rustls")]
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        algs::ECDSA_P256_SHA256,
        algs::ECDSA_P256_SHA384,
        algs::ECDSA_P384_SHA256,
        algs::ECDSA_P384_SHA384,
        algs::ED25519,
        algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        algs::RSA_PKCS1_2048_8192_SHA256,
        algs::RSA_PKCS1_2048_8192_SHA384,
        algs::RSA_PKCS1_2048_8192_SHA512,
        algs::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        algs::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        algs::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[algs::ECDSA_P384_SHA384, algs::ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[algs::ECDSA_P256_SHA256, algs::ECDSA_P384_SHA256],
        ),
        (SignatureScheme::ED25519, &[algs::ED25519]),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA512,
            &[algs::RSA_PKCS1_2048_8192_SHA512],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[algs::RSA_PKCS1_2048_8192_SHA384],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA256,
            &[algs::RSA_PKCS1_2048_8192_SHA256],
        ),
    ],
};

/// Random bytes from the operating system's generator, the one tally's ids
/// come from (*ring*'s own generator is the same system call).
#[cfg(feature = "rustls")]
#[derive(Debug)]
struct Random;

#[cfg(feature = "rustls")]
impl SecureRandom for Random {
    fn fill(&self, buf: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
        if crate::os::random::fill_secure(buf) {
            Ok(())
        } else {
            Err(rustls::crypto::GetRandomFailed)
        }
    }
}

/// Loads no private key: tally never authenticates with a client
/// certificate, and *ring*'s signing code (RSA, ECDSA, Ed25519) would
/// otherwise stay in every host's binary for nothing.
#[cfg(feature = "rustls")]
#[derive(Debug)]
struct NoKeys;

#[cfg(feature = "rustls")]
impl KeyProvider for NoKeys {
    fn load_private_key(
        &self,
        _key: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "tally sends no client certificate".into(),
        ))
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
