//! What tally makes of an endpoint URL before anything is sent to it: the
//! scheme (`http` or `https`, in any case), whether the host is this
//! machine, whether plain `http://` may be used, and the URL with any
//! credentials removed, which is the only form ever shown or stored
//! (`status`, `log`, `flush`, debug output, `sent.jsonl`, `last_error`).

/// The URL's scheme, lower-cased, when it is `http` or `https`.
pub fn scheme(url: &str) -> Option<&'static str> {
    let (scheme, _) = url.trim().split_once("://")?;
    if scheme.eq_ignore_ascii_case("https") {
        Some("https")
    } else if scheme.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// The URL as posted: the scheme lower-cased (`HTTPS://` is accepted, and
/// not every HTTP stack accepts it in upper case), the rest unchanged.
pub fn normalize(url: &str) -> String {
    let url = url.trim();
    match (scheme(url), url.split_once("://")) {
        (Some(s), Some((_, rest))) => format!("{s}://{rest}"),
        _ => url.to_owned(),
    }
}

/// The host of a URL (without port, brackets or credentials).
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next();
    }
    Some(host.split(':').next().unwrap_or(host))
}

/// Whether `host` names this machine: `localhost` (and `*.localhost`),
/// `127.0.0.0/8` or `::1`. Plain HTTP to these never crosses a network.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    h.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Why `url` cannot be sent to, if it cannot: not an `http://` or
/// `https://` URL, or plain `http://` to another machine when the system
/// policy does not allow it. The one message `status` and `flush` show.
pub fn problem(
    url: &str,
    origin: &dyn std::fmt::Display,
    plain_http_allowed: bool,
) -> Option<String> {
    let shown = redact(url);
    match scheme(url) {
        None => Some(format!(
            "the endpoint {shown:?} (from {origin}) is not an http:// or https:// URL, so nothing is sent; set an https:// URL"
        )),
        Some("http") if !plain_http_allowed && !host_of(url).is_some_and(is_loopback) => {
            Some(format!(
                "the endpoint {shown} (from {origin}) is plain http:// to another machine, so the data would travel unencrypted; nothing is sent unless the system policy file sets allow_plain_http = true. Use an https:// URL"
            ))
        }
        _ => None,
    }
}

/// A warning for plain `http://` to another machine even where the policy
/// allows it (the data travels unencrypted).
pub fn plain_http_warning(url: &str) -> Option<String> {
    (scheme(url) == Some("http") && !host_of(url).is_some_and(is_loopback)).then(|| {
        format!(
            "the endpoint {} is plain http:// to another machine: the data travels unencrypted",
            redact(url)
        )
    })
}

/// `url` without credentials: `http://user:pass@host/` becomes
/// `http://***@host/`.
pub fn redact(url: &str) -> String {
    redact_text(url)
}

/// `text` with the credentials of every URL in it replaced by `***` (error
/// messages of the HTTP stack may quote the URL they were given).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace, or a
        // quote when the URL is quoted in a message.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '>') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_everywhere_in_a_text() {
        assert_eq!(
            redact("http://user:pass@h.example:8080/v1/batch"),
            "http://***@h.example:8080/v1/batch"
        );
        assert_eq!(redact("https://h.example/x"), "https://h.example/x");
        assert_eq!(
            redact_text("sending to http://u:p@a/b failed: proxy \"socks5h://x:y@p:1\""),
            "sending to http://***@a/b failed: proxy \"socks5h://***@p:1\""
        );
        assert_eq!(redact_text("no url here"), "no url here");
    }

    #[test]
    fn upper_case_schemes_are_accepted() {
        assert_eq!(scheme("HTTPS://h.example/x"), Some("https"));
        assert_eq!(normalize("HTTPS://h.example/X"), "https://h.example/X");
        assert_eq!(scheme("ftp://x"), None);
        assert!(problem("HTTPS://h.example/x", &"env", false).is_none());
    }

    #[test]
    fn plain_http_only_to_this_machine_unless_allowed() {
        for ok in [
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://[::1]:80/x",
            "http://127.1.2.3/",
        ] {
            assert!(problem(ok, &"env", false).is_none(), "{ok}");
        }
        let p = problem("http://u:secret@collector.example/x", &"env", false).unwrap();
        assert!(
            p.contains("allow_plain_http") && !p.contains("secret"),
            "{p}"
        );
        assert!(problem("http://collector.example/x", &"env", true).is_none());
        assert!(
            problem("ftp://x", &"env", true)
                .unwrap()
                .contains("not an http")
        );
    }
}
