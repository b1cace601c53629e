//! How tally reaches a ClickHouse that is really run: HTTP Basic
//! authentication for a user with a password (the header, never the query
//! string), and for `clickhouse+https://` the TLS setup that checks the
//! server's certificate against the public roots or the URL's `?ca=` file.

use super::url::ClickHouseUrl;

/// How an HTTPS store's certificate is checked: the public (webpki)
/// roots, or the certificate authorities of the URL's `?ca=` file.
pub(super) type Tls = ureq::tls::TlsConfig;

/// The TLS setup of `url`: its CA file read, or the public roots.
pub(super) fn tls_for(url: &ClickHouseUrl) -> Result<Tls, String> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig, parse_pem};
    let Some(path) = &url.ca else {
        return Ok(TlsConfig::default());
    };
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
    let certs: Vec<_> = parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!(
            "the CA file {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&certs))
        .build())
}

/// `Basic base64(user:password)`.
pub(super) fn basic_auth(user: &str, password: &str) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ABC[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        assert_eq!(
            basic_auth("tally", "p@ss:w0rd/x"),
            "Basic dGFsbHk6cEBzczp3MHJkL3g="
        );
        assert_eq!(basic_auth("a", ""), "Basic YTo=");
        assert_eq!(basic_auth("ab", "c"), "Basic YWI6Yw==");
    }
}
