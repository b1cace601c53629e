//! `tally serve`: runs the ingest endpoint in the foreground, logging to
//! stderr (the bound address first, so scripts and tests can read it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::server::proxy::TrustedProxies;
use crate::server::store::clickhouse::Secret;
use crate::server::store::{DEFAULT_FILE_NAME, Durability, StoreLocation};
use crate::server::{self, Config};
use tally_telemetry::{Env, Telemetry};

/// `tally serve` options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0 picks a free one)
    #[arg(long, default_value = server::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// The SQLite store, created on first start [default: <data dir>/tally/store.sqlite3]
    #[arg(long, value_name = "PATH", conflicts_with = "store")]
    pub db: Option<PathBuf>,
    /// The store as a URL: clickhouse://[USER[:PASSWORD]@]HOST:PORT/DATABASE (tables are
    /// created on first start; ?cluster=NAME for replicated tables on a ClickHouse cluster),
    /// clickhouse+https://…[?ca=PEM] (certificate checked) or sqlite:PATH; also read from
    /// TALLY_STORE [default: the SQLite store of --db]
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// A file holding the ClickHouse password (a mounted Kubernetes Secret; one trailing
    /// newline is ignored); also TALLY_STORE_PASSWORD_FILE, or the password itself in
    /// TALLY_STORE_PASSWORD. A password in the URL wins
    #[arg(long, value_name = "PATH")]
    pub store_password_file: Option<PathBuf>,
    /// Batches accepted per machine per minute (0: no limit)
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,
    /// Days of data kept; older days are pruned at start and daily
    #[arg(long, value_name = "DAYS", default_value_t = server::DEFAULT_RETENTION_DAYS)]
    pub retention_days: u32,
    /// Concurrent connections at most (the open-file limit is raised to fit); when all are
    /// taken, the connection idle the longest is closed to make room
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Connections from one address at most; over that, its own oldest idle one makes room
    /// [default: half of --max-connections]
    #[arg(long, value_name = "N")]
    pub max_connections_per_source: Option<usize>,
    /// Requests served on one keep-alive connection before it is closed
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_MAX_REQUESTS_PER_CONNECTION)]
    pub max_requests_per_connection: u32,
    /// Batches per second accepted from everyone together; over it: 503 with Retry-After
    /// (0: no limit)
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_GLOBAL_RATE)]
    pub global_rate: u32,
    /// Batches per second accepted from one address, which is kept in memory only as a keyed
    /// hash; over it: 429 with Retry-After (0: no limit)
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_SOURCE_RATE)]
    pub source_rate: u32,
    /// Seconds a client has to send its request headers (and an idle connection is kept)
    #[arg(long, value_name = "SECS", default_value_t = server::DEFAULT_HEADER_TIMEOUT.as_secs())]
    pub header_timeout: u64,
    /// Seconds a client has to send its request body
    #[arg(long, value_name = "SECS", default_value_t = server::DEFAULT_BODY_TIMEOUT.as_secs())]
    pub body_timeout: u64,
    /// full: every commit is synced to disk before the 204; normal: a commit survives a
    /// crash of tally, but the last ones may not survive a power loss
    #[arg(long, value_enum, default_value_t = Sync::Full)]
    pub sync: Sync,
    /// Milliseconds the store has to acknowledge a batch (and ClickHouse to answer any
    /// statement); past it the batch gets 503, /readyz fails and batches get 503 at once
    /// until a probe of the store succeeds
    #[arg(long, value_name = "MS", default_value_t = server::DEFAULT_STORE_TIMEOUT.as_millis() as u64)]
    pub store_timeout: u64,
    /// SQLite: the write-ahead log's size at which the writer truncates it (it stays below
    /// this plus one commit's pages while no reader holds an old snapshot)
    #[arg(long, value_name = "MIB", default_value_t = server::DEFAULT_WAL_LIMIT >> 20)]
    pub wal_limit: u64,
    /// A reverse proxy's address or range (CIDR, repeatable): from such a peer the client
    /// address for --source-rate is the rightmost untrusted hop of Forwarded or
    /// X-Forwarded-For; also read from TALLY_TRUSTED_PROXIES (comma-separated)
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxy: Vec<String>,
    /// Also export what was accepted as OTLP/HTTP metrics to this collector URL (a URL
    /// without a path gets /v1/metrics); without it, OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT
    /// is used when set. Protocol, headers and resource attributes come from the OTEL_*
    /// variables; OTEL_SDK_DISABLED=true turns the export off
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Seconds between OTLP exports
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub otlp_interval: u64,
    /// Probe a running `tally serve` instead of starting one: GET this http:// URL (its
    /// /livez or /readyz) and exit 0 if it answers 200 within 5 seconds, 1 if not; a
    /// container's health check, where no shell or curl is at hand
    #[arg(long, value_name = "URL")]
    pub check: Option<String>,
}

/// `tally serve --check URL`: whether the server at `url` answers 200.
/// Prints nothing when it does (a health check's output is noise).
fn check(url: &str) -> anyhow::Result<()> {
    if !url.starts_with("http://") {
        anyhow::bail!("--check {url:?} is not an http:// URL (e.g. http://127.0.0.1:8080/readyz)");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut resp = agent
        .get(url)
        .call()
        .map_err(|e| anyhow::anyhow!("--check {url}: {e}; is tally serve running there?"))?;
    let status = resp.status().as_u16();
    if status == 200 {
        return Ok(());
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(4096)
        .read_to_string()
        .unwrap_or_default();
    anyhow::bail!("--check {url}: HTTP {status}: {}", body.trim())
}

/// The OTLP export `tally serve` was asked for, if any.
fn otlp_config(
    args: &ServeArgs,
    telemetry: &Telemetry,
) -> anyhow::Result<Option<crate::server::otlp_export::ExportConfig>> {
    let o = telemetry.otlp_destination();
    let disabled = telemetry
        .env()
        .non_empty("OTEL_SDK_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let endpoint = match &args.otlp_endpoint {
        Some(url) => {
            let path = url
                .split_once("://")
                .map_or("", |(_, r)| r.find('/').map_or("", |i| &r[i..]));
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                anyhow::bail!("--otlp-endpoint {url:?} is not an http:// or https:// URL");
            }
            if path.is_empty() || path == "/" {
                format!("{}/v1/metrics", url.trim_end_matches('/'))
            } else {
                url.clone()
            }
        }
        None if o.enabled => match &o.endpoint {
            Some(e) => e.clone(),
            None => return Ok(None),
        },
        None => return Ok(None),
    };
    if disabled {
        eprintln!("tally serve: OTEL_SDK_DISABLED=true: no OTLP export");
        return Ok(None);
    }
    if args.otlp_interval == 0 {
        anyhow::bail!("--otlp-interval must be at least 1 second");
    }
    Ok(Some(crate::server::otlp_export::ExportConfig {
        endpoint,
        protocol: o.protocol,
        headers: o.headers,
        resource_attributes: o.resource_attributes,
        interval: Duration::from_secs(args.otlp_interval),
        client: tally_telemetry::otlp::Client::new(telemetry),
    }))
}

/// `--sync` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Sync {
    /// WAL, synchronous=NORMAL
    Normal,
    /// WAL, synchronous=FULL
    Full,
}

/// The default store location: `<data dir>/store.sqlite3`.
pub fn default_db() -> anyhow::Result<PathBuf> {
    directories::ProjectDirs::from("", "", "tally")
        .map(|d| d.data_dir().join(DEFAULT_FILE_NAME))
        .context("no data directory could be determined (is HOME set?); pass --db PATH")
}

/// The environment variable that names the store when `--store` and
/// `--db` are not given (for containers).
pub const STORE_ENV: &str = "TALLY_STORE";

/// The environment variable with the trusted proxies (comma-separated
/// CIDRs) when no `--trusted-proxy` is given.
pub const TRUSTED_PROXIES_ENV: &str = "TALLY_TRUSTED_PROXIES";

/// `--trusted-proxy`, else `TALLY_TRUSTED_PROXIES`.
fn trusted_proxies(args: &ServeArgs, env: &Env) -> anyhow::Result<TrustedProxies> {
    let (list, from): (Vec<&str>, &str) = if !args.trusted_proxy.is_empty() {
        (
            args.trusted_proxy.iter().map(String::as_str).collect(),
            "--trusted-proxy",
        )
    } else if let Some(v) = env.non_empty(TRUSTED_PROXIES_ENV) {
        (
            v.split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect(),
            TRUSTED_PROXIES_ENV,
        )
    } else {
        return Ok(TrustedProxies::default());
    };
    list.iter()
        .map(|c| c.parse().map_err(|e| anyhow::anyhow!("{from}: {e}")))
        .collect::<anyhow::Result<_>>()
        .map(TrustedProxies)
}

/// The environment variable naming a file with the ClickHouse password.
pub const STORE_PASSWORD_FILE_ENV: &str = "TALLY_STORE_PASSWORD_FILE";

/// The environment variable holding the ClickHouse password itself.
pub const STORE_PASSWORD_ENV: &str = "TALLY_STORE_PASSWORD";

/// A password file's size at most.
const MAX_PASSWORD_FILE: u64 = 4096;

/// The store `serve` and `report` use: `--store`, else `--db`, else
/// `TALLY_STORE`, else the default SQLite file. A ClickHouse URL without a
/// password gets one from `TALLY_STORE_PASSWORD_FILE` or
/// `TALLY_STORE_PASSWORD` (as user `default` if the URL names none).
pub fn store_location(
    store: Option<&str>,
    db: Option<&PathBuf>,
    env: &Env,
) -> anyhow::Result<StoreLocation> {
    let mut at = if let Some(s) = store {
        StoreLocation::parse(s).map_err(|e| anyhow::anyhow!("--store: {e}"))?
    } else if let Some(p) = db {
        StoreLocation::Sqlite(p.clone())
    } else if let Some(s) = env.non_empty(STORE_ENV) {
        StoreLocation::parse(s).map_err(|e| anyhow::anyhow!("{STORE_ENV}: {e}"))?
    } else {
        StoreLocation::Sqlite(default_db()?)
    };
    if let Some(file) = env.non_empty(STORE_PASSWORD_FILE_ENV) {
        set_password(&mut at, || read_password(std::path::Path::new(file)))?;
    } else if let Some(p) = env.non_empty(STORE_PASSWORD_ENV) {
        set_password(&mut at, || Ok(p.to_owned()))?;
    }
    Ok(at)
}

/// Gives a ClickHouse store without a password the one `get` reads.
fn set_password(
    at: &mut StoreLocation,
    get: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    if let StoreLocation::ClickHouse(u) = at
        && u.password.is_none()
    {
        u.password = Some(Secret::new(get()?));
        u.user.get_or_insert_with(|| "default".to_owned());
    }
    Ok(())
}

/// The password in `path`, without one trailing newline.
fn read_password(path: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PASSWORD_FILE).read_to_string(&mut text))
        .with_context(|| format!("cannot read the store password file {}", path.display()))?;
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
}

/// Whether a store URL carries a password (`USER:PASSWORD@`).
fn has_password(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, r)| &r[..r.find('/').unwrap_or(r.len())])
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(args: &ServeArgs, telemetry: &Telemetry) -> anyhow::Result<()> {
    if let Some(url) = &args.check {
        return check(url);
    }
    let mut db = store_location(args.store.as_deref(), args.db.as_ref(), telemetry.env())?;
    if let Some(file) = &args.store_password_file {
        if let StoreLocation::ClickHouse(u) = &mut db {
            // The flag beats the environment, not a password in the URL
            // (--store's, or TALLY_STORE's when it named the store).
            let url = args
                .store
                .as_deref()
                .or_else(|| telemetry.env().non_empty(STORE_ENV));
            if url.is_none_or(|s| !has_password(s)) {
                u.password = None;
            }
        }
        set_password(&mut db, || read_password(file))?;
    }
    if args.header_timeout == 0 || args.body_timeout == 0 {
        anyhow::bail!("--header-timeout and --body-timeout must be at least 1 second");
    }
    if args.store_timeout == 0 || args.wal_limit == 0 {
        anyhow::bail!("--store-timeout and --wal-limit must be at least 1");
    }
    let trusted = trusted_proxies(args, telemetry.env())?;
    let cfg = Config {
        listen: args.listen,
        store: db.clone(),
        rate_limit: args.rate_limit,
        retention_days: args.retention_days,
        max_connections: args.max_connections.max(1),
        max_connections_per_source: args
            .max_connections_per_source
            .unwrap_or(args.max_connections / 2)
            .max(1),
        max_requests_per_connection: args.max_requests_per_connection.max(1),
        global_rate: args.global_rate,
        source_rate: args.source_rate,
        header_timeout: Duration::from_secs(args.header_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
        durability: match args.sync {
            Sync::Normal => Durability::Normal,
            Sync::Full => Durability::Full,
        },
        store_timeout: Duration::from_millis(args.store_timeout),
        wal_limit: args.wal_limit.saturating_mul(1 << 20),
        trusted_proxies: trusted,
        otlp: otlp_config(args, telemetry)?,
    };
    let rate_otlp = cfg.otlp.as_ref().map_or(String::new(), |o| {
        format!(
            ", OTLP export to {} every {}s",
            o.endpoint,
            o.interval.as_secs()
        )
    });
    let limit = |n: u32, unit: &str, none: &str| {
        if n == 0 {
            none.to_owned()
        } else {
            format!("{n} batches/{unit}")
        }
    };
    let proxies = if cfg.trusted_proxies.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = cfg
            .trusted_proxies
            .0
            .iter()
            .map(|c| c.to_string())
            .collect();
        format!(", trusting the proxies {}", list.join(" "))
    };
    let rate = format!(
        "{}, {}, {}, up to {} connections{proxies}, store timeout {} ms",
        limit(cfg.rate_limit, "min per machine", "no per-machine limit"),
        limit(cfg.source_rate, "s per address", "no per-address limit"),
        limit(cfg.global_rate, "s overall", "no global limit"),
        cfg.max_connections,
        cfg.store_timeout.as_millis()
    );
    server::run(cfg.clone(), |addr| {
        eprintln!(
            "tally serve: listening on http://{addr}{} (store {}, {rate}, retention {} days{rate_otlp})",
            tally_telemetry::schema::BATCH_PATH,
            db,
            cfg.retention_days
        );
    })
    .with_context(|| format!("tally serve with store {db}"))?;
    Ok(())
}
