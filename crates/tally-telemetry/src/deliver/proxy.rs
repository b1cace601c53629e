//! Which proxy a send goes through: the `HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY` and `NO_PROXY` variables (upper or lower case) from the
//! environment snapshot. A setting that cannot be used is an error, so the
//! sender sends nothing rather than connect directly behind the user's
//! back.

use crate::consent::settings::Settings;
use crate::deliver::endpoint;

/// The proxy for `endpoint` from the environment snapshot: `HTTPS_PROXY` or
/// `HTTP_PROXY` by scheme (then `ALL_PROXY`), unless `NO_PROXY` matches.
/// HTTP(S) and SOCKS4/4a/5/5h proxies are supported. A setting that cannot
/// be parsed is an error, never a silent direct connection.
pub fn proxy_for(settings: &Settings, endpoint: &str) -> Result<Option<ureq::Proxy>, String> {
    let Some((var, proxy)) = proxy_setting(settings, endpoint) else {
        return Ok(None);
    };
    let unusable = |why: String| {
        endpoint::redact_text(&format!(
            "the proxy setting {var}={proxy:?} cannot be used ({why}); nothing is sent until it is fixed or unset, rather than connecting directly"
        ))
    };
    // ureq reads a missing scheme as http://; a scheme it does not know is
    // refused here rather than guessed.
    let known = |scheme: &str| {
        matches!(
            scheme.to_ascii_lowercase().as_str(),
            "http" | "https" | "socks" | "socks4" | "socks4a" | "socks5" | "socks5h"
        )
    };
    if let Some((scheme, _)) = proxy.split_once("://").filter(|(s, _)| !known(s)) {
        return Err(unusable(format!("unknown proxy scheme {scheme:?}")));
    }
    // Without a scheme, only the common `HOST:PORT` shorthand is taken;
    // anything else (`garbage`) would be looked up in DNS as a host name.
    if !proxy.contains("://") && !is_host_port(proxy) {
        return Err(unusable(
            "not a URL: write it as http://HOST:PORT or socks5://HOST:PORT".into(),
        ));
    }
    // `catching`: a parser that panics on odd input must not reach the host.
    match crate::deliver::guard::catching(|| ureq::Proxy::new(proxy)) {
        Ok(Ok(p)) => Ok(Some(p)),
        Ok(Err(e)) => Err(unusable(e.to_string())),
        Err(panic) => Err(unusable(panic)),
    }
}

/// `HOST:PORT` with a plausible host (letters, digits, `-`, `.`, or a
/// bracketed IPv6 address) and a numeric port.
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    host_ok && !port.is_empty() && port.len() <= 5 && port.chars().all(|c| c.is_ascii_digit())
}

/// The proxy variable and its value that a send to `endpoint` goes
/// through (`NO_PROXY` considered), if any.
pub(crate) fn proxy_setting<'a>(
    settings: &'a Settings,
    endpoint: &str,
) -> Option<(String, &'a str)> {
    let env = &settings.env;
    let get = |k: &str| {
        let lower = k.to_ascii_lowercase();
        env.non_empty(k)
            .map(|v| (k.to_owned(), v))
            .or_else(|| env.non_empty(&lower).map(|v| (lower.clone(), v)))
    };
    let https = endpoint::scheme(endpoint) == Some("https");
    let found = if https {
        get("HTTPS_PROXY")
    } else {
        get("HTTP_PROXY")
    }
    .or_else(|| get("ALL_PROXY"))?;
    let host = endpoint::host_of(endpoint)?;
    if get("NO_PROXY").is_some_and(|(_, list)| no_proxy_matches(list, host)) {
        return None;
    }
    Some(found)
}

/// `NO_PROXY` semantics: comma-separated hosts or domain suffixes
/// (`example.com`, `.example.com`, `*.example.com`), or `*` for all.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|e| {
            let e = e.to_ascii_lowercase();
            let e = e.split(':').next().unwrap_or(&e).to_owned();
            e == "*" || {
                let suffix = e.trim_start_matches('*').trim_start_matches('.');
                host == suffix || host.ends_with(&format!(".{suffix}"))
            }
        })
}

#[cfg(test)]
mod tests {
    /// `HTTPS_PROXY=garbage` was taken as a proxy host name and looked up
    /// in DNS; a value without a scheme must be `HOST:PORT`.
    #[test]
    fn a_proxy_value_that_is_not_a_url_is_refused_not_looked_up() {
        assert!(super::is_host_port("proxy.corp:3128"));
        assert!(super::is_host_port("[::1]:8080"));
        assert!(super::is_host_port("10.0.0.1:80"));
        assert!(!super::is_host_port("garbage"));
        assert!(!super::is_host_port("garbage:"));
        assert!(!super::is_host_port("a b:80"));
        assert!(!super::is_host_port("host:99999x"));
    }

    use super::*;

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("localhost,127.0.0.1", "127.0.0.1"));
        assert!(no_proxy_matches(".example.com", "api.example.com"));
        assert!(no_proxy_matches("example.com", "api.example.com"));
        assert!(no_proxy_matches("*", "anything"));
        assert!(!no_proxy_matches("example.com", "example.org"));
        assert_eq!(
            endpoint::host_of("http://user@h.example:8080/v1/batch"),
            Some("h.example")
        );
        assert_eq!(endpoint::host_of("http://[::1]:80/x"), Some("::1"));
    }
}
