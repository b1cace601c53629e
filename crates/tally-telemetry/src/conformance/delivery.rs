//! Delivery cases: which proxy variable a send to the endpoint goes
//! through (`HTTPS_PROXY` or `HTTP_PROXY` by the endpoint's scheme, then
//! `ALL_PROXY`, upper case before lower, `NO_PROXY` considered), and
//! whether its value can be used at all (a value that is neither a URL of
//! a known scheme nor `HOST:PORT` stops sending rather than connecting
//! directly), as [`proxy::proxy_setting`] and [`proxy::proxy_for`] decide.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::consent::{app, resolve};
use super::{Case, Scratch};
use crate::deliver::{endpoint, proxy};

/// A proxy case.
#[derive(Serialize, Deserialize)]
pub struct Proxy {
    name: String,
    /// The environment.
    env: BTreeMap<String, String>,
    /// The endpoint batches are posted to.
    endpoint: String,
    want: ProxyChoice,
}

/// The proxy a send takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyChoice {
    /// The variable whose proxy is used, or null for a direct connection.
    via: Option<String>,
    /// Whether its value cannot be used (nothing is sent until it is fixed).
    unusable: bool,
}

impl Case for Proxy {
    type Want = ProxyChoice;
    fn name(&self) -> &str {
        &self.name
    }
    fn want(&self) -> &ProxyChoice {
        &self.want
    }
}

pub fn run(c: &Proxy) -> Result<ProxyChoice, String> {
    let dir = Scratch::new()?;
    let s = resolve(
        &dir,
        app(false, "1.0.0", Some(&c.endpoint)),
        &c.env,
        false,
        None,
        None,
    )?;
    let url = endpoint::normalize(&c.endpoint);
    Ok(ProxyChoice {
        via: proxy::proxy_setting(&s, &url).map(|(var, _)| var),
        unusable: proxy::proxy_for(&s, &url).is_err(),
    })
}

pub fn cases() -> Vec<Proxy> {
    const HTTPS: &str = "https://t.example.com/v1/batch";
    const HTTP_LOCAL: &str = "http://127.0.0.1:4318/v1/batch";
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let rows: &[Row<'_>] = &[
        ("no proxy variable: direct", &[], HTTPS),
        (
            "HTTPS_PROXY for an https endpoint",
            &[("HTTPS_PROXY", "http://proxy.corp:3128")],
            HTTPS,
        ),
        (
            "https_proxy in lower case",
            &[("https_proxy", "http://proxy.corp:3128")],
            HTTPS,
        ),
        (
            "upper case before lower",
            &[
                ("HTTPS_PROXY", "http://a.corp:3128"),
                ("https_proxy", "http://b.corp:3128"),
            ],
            HTTPS,
        ),
        (
            "HTTP_PROXY is not for https",
            &[("HTTP_PROXY", "http://proxy.corp:3128")],
            HTTPS,
        ),
        (
            "HTTP_PROXY for an http endpoint, loopback included",
            &[("HTTP_PROXY", "http://proxy.corp:3128")],
            HTTP_LOCAL,
        ),
        (
            "HTTPS_PROXY is not for http",
            &[("HTTPS_PROXY", "http://proxy.corp:3128")],
            HTTP_LOCAL,
        ),
        (
            "ALL_PROXY when the scheme's is unset",
            &[("ALL_PROXY", "socks5://proxy.corp:1080")],
            HTTPS,
        ),
        (
            "all_proxy in lower case",
            &[("all_proxy", "socks5h://proxy.corp:1080")],
            HTTPS,
        ),
        (
            "the scheme's variable before ALL_PROXY",
            &[
                ("ALL_PROXY", "socks5://a.corp:1080"),
                ("HTTPS_PROXY", "http://b.corp:3128"),
            ],
            HTTPS,
        ),
        (
            "an empty value is unset",
            &[("HTTPS_PROXY", ""), ("ALL_PROXY", "http://proxy.corp:3128")],
            HTTPS,
        ),
        (
            "NO_PROXY names the host's domain",
            &[
                ("HTTPS_PROXY", "http://proxy.corp:3128"),
                ("NO_PROXY", "example.com"),
            ],
            HTTPS,
        ),
        (
            "NO_PROXY with a leading dot",
            &[
                ("HTTPS_PROXY", "http://proxy.corp:3128"),
                ("NO_PROXY", ".example.com"),
            ],
            HTTPS,
        ),
        (
            "NO_PROXY with a wildcard",
            &[
                ("HTTPS_PROXY", "http://proxy.corp:3128"),
                ("NO_PROXY", "*.example.com"),
            ],
            HTTPS,
        ),
        (
            "NO_PROXY=*",
            &[("HTTPS_PROXY", "http://proxy.corp:3128"), ("NO_PROXY", "*")],
            HTTPS,
        ),
        (
            "NO_PROXY with a port",
            &[
                ("HTTPS_PROXY", "http://proxy.corp:3128"),
                ("NO_PROXY", "t.example.com:443"),
            ],
            HTTPS,
        ),
        (
            "NO_PROXY in a list with spaces",
            &[
                ("HTTPS_PROXY", "http://proxy.corp:3128"),
                ("NO_PROXY", "localhost, EXAMPLE.COM"),
            ],
            HTTPS,
        ),
        (
            "no_proxy in lower case",
            &[
                ("HTTPS_PROXY", "http://proxy.corp:3128"),
                ("no_proxy", "example.com"),
            ],
            HTTPS,
        ),
        (
            "NO_PROXY of another domain",
            &[
                ("HTTPS_PROXY", "http://proxy.corp:3128"),
                ("NO_PROXY", "example.org,ample.com"),
            ],
            HTTPS,
        ),
        (
            "NO_PROXY with loopback",
            &[
                ("HTTP_PROXY", "http://proxy.corp:3128"),
                ("NO_PROXY", "localhost,127.0.0.1"),
            ],
            HTTP_LOCAL,
        ),
        (
            "HOST:PORT without a scheme",
            &[("HTTPS_PROXY", "proxy.corp:3128")],
            HTTPS,
        ),
        ("an IPv6 HOST:PORT", &[("HTTPS_PROXY", "[::1]:3128")], HTTPS),
        (
            "an https proxy",
            &[("HTTPS_PROXY", "https://proxy.corp:443")],
            HTTPS,
        ),
        (
            "a proxy with credentials",
            &[("HTTPS_PROXY", "http://user:secret@proxy.corp:3128")],
            HTTPS,
        ),
        (
            "a bare word is unusable",
            &[("HTTPS_PROXY", "garbage")],
            HTTPS,
        ),
        (
            "a host without a port is unusable",
            &[("HTTPS_PROXY", "proxy.corp")],
            HTTPS,
        ),
        (
            "an unknown scheme is unusable",
            &[("HTTPS_PROXY", "ftp://proxy.corp:21")],
            HTTPS,
        ),
        (
            "an unusable proxy that NO_PROXY skips",
            &[("HTTPS_PROXY", "garbage"), ("NO_PROXY", "example.com")],
            HTTPS,
        ),
    ];
    rows.iter()
        .map(|&(name, env, endpoint)| {
            let mut c = Proxy {
                name: name.into(),
                env: env.iter().map(|&(k, v)| (k.into(), v.into())).collect(),
                endpoint: endpoint.into(),
                want: ProxyChoice {
                    via: None,
                    unusable: false,
                },
            };
            c.want = run(&c).expect("a scratch directory");
            c
        })
        .collect()
}
