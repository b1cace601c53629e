//! What `tally serve` can be told: [`Config`], and the default of each
//! setting (the defaults `tally serve --help` shows). The server that
//! enforces them is [`http`](crate::server::http); the limits themselves
//! live in [`admission`](crate::server::admission),
//! [`conn`](crate::server::conn) and [`ratelimit`](crate::server::ratelimit).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::server::proxy::TrustedProxies;
use crate::server::store::{Durability, StoreLocation};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// Default requests per machine per minute.
pub const DEFAULT_RATE_LIMIT: u32 = 6;
/// Default retention in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 730;
/// Default cap on concurrent connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default requests served on one keep-alive connection before it is closed.
pub const DEFAULT_MAX_REQUESTS_PER_CONNECTION: u32 = 1000;
/// Default batches per second accepted from everyone together: below what
/// the SQLite store commits on two cores (about 20,000), so a flood is
/// refused rather than slowing every client down.
pub const DEFAULT_GLOBAL_RATE: u32 = 15_000;
/// Default batches per second accepted from one source address.
pub const DEFAULT_SOURCE_RATE: u32 = 200;
/// Default time a client has to send its request headers.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time a client has to send its request body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default longest wait for the store to acknowledge a batch (and for
/// ClickHouse to answer any statement of the writer or the probe). An
/// insert into ClickHouse 18.16 takes 30-60 ms, a SQLite group commit a few
/// ms; past this the store counts as down and batches get 503 at once.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(3);
/// Default size of the SQLite WAL at which the writer truncates it.
pub const DEFAULT_WAL_LIMIT: u64 = crate::server::checkpoint::DEFAULT_WAL_LIMIT;
/// Everything `tally serve` can be told.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The store: a SQLite file or a ClickHouse database.
    pub store: StoreLocation,
    /// Requests per machine per minute (0: unlimited).
    pub rate_limit: u32,
    /// Days of data kept.
    pub retention_days: u32,
    /// Concurrent connections at most.
    pub max_connections: usize,
    /// Of those, from one source address at most.
    pub max_connections_per_source: usize,
    /// Requests served on one keep-alive connection.
    pub max_requests_per_connection: u32,
    /// Batches per second from everyone together (0: unlimited).
    pub global_rate: u32,
    /// Batches per second from one source address (0: unlimited).
    pub source_rate: u32,
    /// Time allowed for a request's headers (also the idle keep-alive time).
    pub header_timeout: Duration,
    /// Time allowed for a request's body.
    pub body_timeout: Duration,
    /// How hard commits push to disk.
    pub durability: Durability,
    /// Longest wait for the store to acknowledge a batch.
    pub store_timeout: Duration,
    /// SQLite: the WAL size at which the writer truncates it.
    pub wal_limit: u64,
    /// Peers whose `Forwarded`/`X-Forwarded-For` name the client address.
    pub trusted_proxies: TrustedProxies,
    /// Export what was accepted to an OTLP collector.
    pub otlp: Option<crate::server::otlp_export::ExportConfig>,
}

impl Config {
    /// The defaults, storing in `db`.
    pub fn new(db: PathBuf) -> Config {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            store: StoreLocation::Sqlite(db),
            rate_limit: DEFAULT_RATE_LIMIT,
            retention_days: DEFAULT_RETENTION_DAYS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_source: DEFAULT_MAX_CONNECTIONS / 2,
            max_requests_per_connection: DEFAULT_MAX_REQUESTS_PER_CONNECTION,
            global_rate: DEFAULT_GLOBAL_RATE,
            source_rate: DEFAULT_SOURCE_RATE,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            durability: Durability::default(),
            store_timeout: DEFAULT_STORE_TIMEOUT,
            wal_limit: DEFAULT_WAL_LIMIT,
            trusted_proxies: TrustedProxies::default(),
            otlp: None,
        }
    }
}
