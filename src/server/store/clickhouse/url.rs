//! The ClickHouse store's address,
//! `clickhouse[+https]://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?ca=PATH][&cluster=NAME]`,
//! and the quoting of values spliced into SQL (18.16 has no query
//! parameters). The password never leaves this value in text: the URL
//! displays and debugs as `USER:***@…`, and a URL that does not parse is
//! quoted back redacted.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A password, kept out of every `Display` and `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The password itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a ClickHouse store is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickHouseUrl {
    /// HTTPS (`clickhouse+https://`), with the server's certificate checked.
    pub https: bool,
    /// Host name or address.
    pub host: String,
    /// The HTTP(S) interface's port.
    pub port: u16,
    /// The database tally's tables live in (created if missing).
    pub database: String,
    /// The ClickHouse user (`default` when not given).
    pub user: Option<String>,
    /// Its password (from the URL, or set from a file or the environment).
    pub password: Option<Secret>,
    /// A PEM file of the certificate authorities to trust for HTTPS instead
    /// of the public roots (`?ca=PATH`).
    pub ca: Option<PathBuf>,
    /// The ClickHouse cluster (`?cluster=NAME`, a name from the servers'
    /// `remote_servers`) whose nodes replicate tally's tables through
    /// ZooKeeper: the tables are `Replicated…MergeTree`s (`tables.rs`).
    pub cluster: Option<String>,
}

impl fmt::Display for ClickHouseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https {
            "clickhouse+https"
        } else {
            "clickhouse"
        };
        write!(f, "{scheme}://")?;
        if let Some(u) = &self.user {
            write!(f, "{u}")?;
            if self.password.is_some() {
                write!(f, ":***")?;
            }
            write!(f, "@")?;
        }
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{host}:{}/{}", self.port, self.database)?;
        let mut sep = '?';
        if let Some(ca) = &self.ca {
            write!(f, "{sep}ca={}", ca.display())?;
            sep = '&';
        }
        if let Some(c) = &self.cluster {
            write!(f, "{sep}cluster={c}")?;
        }
        Ok(())
    }
}

/// `s` with any password between `://USER:` and `@` replaced by `***`, for
/// messages about a store URL.
pub fn redact(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{masked}{}", &rest[at..])
        }
        None => s.to_owned(),
    }
}

/// Decodes `%XX` escapes (a password may hold `@`, `:` or `/`).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl FromStr for ClickHouseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "{:?} is not a ClickHouse store URL ({why}); expected clickhouse://[USER[:PASSWORD]@]HOST:PORT/DATABASE[?cluster=NAME] or clickhouse+https://…",
                redact(s)
            )
        };
        let (https, rest) = if let Some(r) = s.strip_prefix("clickhouse://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("clickhouse+https://") {
            (true, r)
        } else {
            return Err(bad(
                "it must start with clickhouse:// or clickhouse+https://",
            ));
        };
        let (authority, path) = rest.split_once('/').ok_or_else(|| bad("no /DATABASE"))?;
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                let u = percent_decode(u).ok_or_else(|| bad("bad %-escape in the user"))?;
                if u.is_empty() {
                    return Err(bad("empty user"));
                }
                let p = p
                    .map(|p| percent_decode(p).ok_or_else(|| bad("bad %-escape in the password")))
                    .transpose()?;
                (Some(u), p.map(Secret))
            }
        };
        let default_port = if https { 8443 } else { 8123 };
        let port_of = |p: &str| p.parse::<u16>().map_err(|_| bad("bad port"));
        let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(|| bad("bad host"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, port_of(p)?),
                None if after.is_empty() => (h, default_port),
                None => return Err(bad("bad host")),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, port_of(p)?),
                None => (hostport, default_port),
            }
        };
        if host.is_empty() || host.contains(['@', '/', '?', '#']) {
            return Err(bad("bad host"));
        }
        let (database, query) = match path.split_once('?') {
            Some((d, q)) => (d, Some(q)),
            None => (path, None),
        };
        // The name is spliced into SQL: letters, digits and `_` only.
        if database.is_empty()
            || database.len() > 64
            || !database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad("the database name may hold only letters, digits and _"));
        }
        let mut ca = None;
        let mut cluster = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("ca", v)) if https && !v.is_empty() => {
                    ca = Some(PathBuf::from(
                        percent_decode(v).ok_or_else(|| bad("bad %-escape in ca"))?,
                    ));
                }
                Some(("ca", _)) => return Err(bad("?ca=PATH needs clickhouse+https://")),
                // Spliced into SQL and a ZooKeeper path, like the database.
                Some(("cluster", v))
                    if !v.is_empty()
                        && v.len() <= 64
                        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    cluster = Some(v.to_owned());
                }
                Some(("cluster", _)) => {
                    return Err(bad("the cluster name may hold only letters, digits and _"));
                }
                _ => return Err(bad("the parameters are ?ca=PATH and ?cluster=NAME")),
            }
        }
        Ok(ClickHouseUrl {
            https,
            host: host.to_owned(),
            port,
            database: database.to_owned(),
            user,
            password,
            ca,
            cluster,
        })
    }
}

/// Quotes `s` as a ClickHouse string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_parse_and_refuse_what_would_reach_sql() {
        let u: ClickHouseUrl = "clickhouse://127.0.0.1:8123/tally".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.database.as_str()),
            ("127.0.0.1", 8123, "tally")
        );
        assert_eq!(u.to_string(), "clickhouse://127.0.0.1:8123/tally");
        let d: ClickHouseUrl = "clickhouse://ch/t_1".parse().unwrap();
        assert_eq!(d.port, 8123);
        for bad in [
            "http://x:1/db",
            "clickhouse://x:1",
            "clickhouse://x:1/db;DROP",
            "clickhouse://x:1/a b",
            "clickhouse://x:notaport/db",
            "clickhouse://:1/db",
        ] {
            assert!(bad.parse::<ClickHouseUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_and_https_parse_and_the_password_never_shows() {
        let u: ClickHouseUrl = "clickhouse://tally:p%40ss:w0rd@ch.example:9000/db"
            .parse()
            .unwrap();
        assert_eq!(u.user.as_deref(), Some("tally"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("p@ss:w0rd"));
        assert_eq!(
            (u.host.as_str(), u.port, u.https),
            ("ch.example", 9000, false)
        );
        assert_eq!(u.to_string(), "clickhouse://tally:***@ch.example:9000/db");
        assert!(!format!("{u:?}").contains("w0rd"), "{u:?}");
        let t: ClickHouseUrl = "clickhouse+https://reader@[::1]/db?ca=/etc/ca.pem"
            .parse()
            .unwrap();
        assert_eq!((t.https, t.port, t.host.as_str()), (true, 8443, "::1"));
        assert_eq!(t.ca.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
        assert_eq!(
            t.to_string(),
            "clickhouse+https://reader@[::1]:8443/db?ca=/etc/ca.pem"
        );
        for bad in [
            "clickhouse://u:hunter2@h:1/db;DROP",
            "clickhouse://u:hunter2@h:x/db",
            "clickhouse://u:hunter2@h:1/db?ca=/x",
            "clickhouse://:hunter2@h:1/db",
        ] {
            let e = bad.parse::<ClickHouseUrl>().unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
        }
        assert_eq!(
            redact("clickhouse://u:hunter2@h:1/db"),
            "clickhouse://u:***@h:1/db"
        );
        assert_eq!(redact("sqlite:/a@b"), "sqlite:/a@b");
    }

    #[test]
    fn a_cluster_name_parses_and_refuses_what_would_reach_sql() {
        let u: ClickHouseUrl = "clickhouse://ch1:8123/tally?cluster=tally_2"
            .parse()
            .unwrap();
        assert_eq!(u.cluster.as_deref(), Some("tally_2"));
        assert_eq!(u.to_string(), "clickhouse://ch1:8123/tally?cluster=tally_2");
        let t: ClickHouseUrl = "clickhouse+https://h/db?ca=/ca.pem&cluster=c"
            .parse()
            .unwrap();
        assert_eq!(
            t.to_string(),
            "clickhouse+https://h:8443/db?ca=/ca.pem&cluster=c"
        );
        for bad in [
            "clickhouse://h:1/db?cluster=",
            "clickhouse://h:1/db?cluster=a'b",
            "clickhouse://h:1/db?cluster=a/b",
            "clickhouse://h:1/db?clusters=a",
        ] {
            assert!(bad.parse::<ClickHouseUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r"a'b\c"), r"'a\'b\\c'");
    }
}
