//! Trusted reverse proxies (`tally serve --trusted-proxy CIDR`). Behind a
//! proxy every connection comes from the proxy's address, so the
//! per-address admission limit would count all clients as one. When the
//! peer of a connection is inside a trusted range, the client address for
//! that limit comes from the request's `Forwarded` header (RFC 7239, its
//! `for=` parameters) or, without one, `X-Forwarded-For`: the rightmost hop
//! that is not itself a trusted proxy, so a client cannot pick its own
//! address by sending a forged header (its forgery sits left of the hop the
//! proxy appended). A header from a peer that is not trusted is ignored.
//!
//! The address found is used exactly like a peer address: reduced in memory
//! to a keyed hash for the admission limit, never stored or logged.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};

/// Hops read from the right of a forwarding header at most; a longer chain
/// of trusted proxies falls back to the peer.
const MAX_HOPS: usize = 16;

/// An address range, `ADDRESS/PREFIX` (or a single address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let bad = |why: &str| {
            format!(
                "{s:?} is not an address range ({why}); expected ADDRESS/PREFIX such as 10.0.0.0/8 or fd00::/8, or one address"
            )
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad("bad address"))?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| bad("bad prefix length"))?,
            None => max,
        };
        Ok(Cidr { net, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is inside the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The trusted ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// Whether any range is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client address a trusted proxy forwarded: the rightmost hop of
    /// `Forwarded` (else `X-Forwarded-For`) outside the trusted ranges, the
    /// leftmost one if every hop is trusted. `None` when there is no such
    /// header, or the hop that decides is not an address (`unknown`, an
    /// obfuscated name, garbage): the caller then keys by the peer.
    pub fn client(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let mut hops = forwarded_for(headers);
        if hops.is_empty() {
            hops = x_forwarded_for(headers);
        }
        let mut leftmost = None;
        for hop in hops.iter().rev().take(MAX_HOPS) {
            let ip = parse_hop(hop)?;
            if !self.contains(ip) {
                return Some(ip);
            }
            leftmost = Some(ip);
        }
        if hops.len() > MAX_HOPS {
            return None;
        }
        leftmost
    }
}

/// The `for=` values of every `Forwarded` header, in order.
fn forwarded_for(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    for value in headers.get_all(header::FORWARDED) {
        let Ok(v) = value.to_str() else {
            // An unreadable header: one hop that is not an address.
            out.push(String::new());
            continue;
        };
        for element in v.split(',') {
            let hop = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| v.trim().trim_matches('"').to_owned())
            });
            // An element without `for=` is a hop that says nothing.
            out.push(hop.unwrap_or_default());
        }
    }
    out
}

/// The hops of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(v) => out.extend(v.split(',').map(|h| h.trim().to_owned())),
            Err(_) => out.push(String::new()),
        }
    }
    out
}

/// An address from a hop: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711` or `2001:db8::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (inner, _) = rest.split_once(']')?;
        return inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn trusted(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies(ranges.iter().map(|r| r.parse().unwrap()).collect())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn ranges_parse_and_match() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.1".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(one.to_string(), "127.0.0.1/32");
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::/129", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 192.0.2.7, 10.0.0.2")]);
        assert_eq!(
            t.client(&h),
            ip("192.0.2.7"),
            "the forged left hop is ignored"
        );
        let h = headers(&[
            ("x-forwarded-for", "192.0.2.7"),
            ("x-forwarded-for", "10.0.0.3"),
        ]);
        assert_eq!(t.client(&h), ip("192.0.2.7"), "headers concatenate");
        let h = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.2")]);
        assert_eq!(t.client(&h), ip("10.0.0.9"), "all trusted: the leftmost");
        let h = headers(&[("x-forwarded-for", "192.0.2.7, unknown")]);
        assert_eq!(t.client(&h), None, "the deciding hop is no address");
        assert_eq!(t.client(&HeaderMap::new()), None);
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_its_forms_parse() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = headers(&[
            (
                "forwarded",
                r#"for=6.6.6.6, for="192.0.2.60:4711";proto=http;by=10.0.0.1"#,
            ),
            ("forwarded", "For=10.0.0.5"),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(t.client(&h), ip("192.0.2.60"));
        let h = headers(&[("forwarded", r#"for="[2001:db8:cafe::17]:4711""#)]);
        assert_eq!(t.client(&h), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(t.client(&h), None);
    }

    #[test]
    fn a_chain_longer_than_the_bound_falls_back_to_the_peer() {
        let t = trusted(&["10.0.0.0/8"]);
        let chain = vec!["10.0.0.1"; MAX_HOPS + 1].join(", ");
        let h = headers(&[("x-forwarded-for", &chain)]);
        assert_eq!(t.client(&h), None);
    }
}
