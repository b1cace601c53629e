//! The ClickHouse store's address, `clickhouse://HOST:PORT/DATABASE`, and
//! the quoting of values spliced into SQL (18.16 has no query parameters).

use std::fmt;
use std::str::FromStr;

/// Where a ClickHouse store is: `clickhouse://HOST:PORT/DATABASE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickHouseUrl {
    /// Host name or address.
    pub host: String,
    /// The HTTP interface's port.
    pub port: u16,
    /// The database tally's tables live in (created if missing).
    pub database: String,
}

impl fmt::Display for ClickHouseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "clickhouse://{}:{}/{}",
            self.host, self.port, self.database
        )
    }
}

impl FromStr for ClickHouseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "{s:?} is not a ClickHouse store URL ({why}); expected clickhouse://HOST:PORT/DATABASE"
            )
        };
        let rest = s
            .strip_prefix("clickhouse://")
            .ok_or_else(|| bad("it must start with clickhouse://"))?;
        let (hostport, database) = rest.split_once('/').ok_or_else(|| bad("no /DATABASE"))?;
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("bad port"))?),
            None => (hostport, 8123),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['@', '/', '?', '#']) {
            return Err(bad("bad host"));
        }
        // The name is spliced into SQL: letters, digits and `_` only.
        if database.is_empty()
            || database.len() > 64
            || !database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad("the database name may hold only letters, digits and _"));
        }
        Ok(ClickHouseUrl {
            host: host.to_owned(),
            port,
            database: database.to_owned(),
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
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r"a'b\c"), r"'a\'b\\c'");
    }
}
