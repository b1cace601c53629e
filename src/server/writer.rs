//! The store's single writer: one thread owns the store (the SQLite
//! connection, or the ClickHouse client) and commits batches in groups. Request handlers hand it a validated batch and
//! wait for their own acknowledgement, which comes only after the
//! transaction holding that batch committed, so a 204 always means "on
//! disk" (or "acknowledged by ClickHouse"). While one transaction commits,
//! the next requests queue up and go into the following one: under load a
//! single commit covers hundreds of batches, which is what lets SQLite take
//! tens of thousands per second, and gives ClickHouse the large inserts it
//! wants (one insert per group, not one per batch).

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use tally_telemetry::schema::Date;
use tokio::sync::{mpsc, oneshot};

use crate::server::health::Health;
use crate::server::store::{AnyStore, Ingested, Pruned, StoreError};
use tally_telemetry::schema::validate::Validated;

/// Batches committed in one SQLite transaction at most.
pub const MAX_GROUP: usize = 256;

/// Batches in one ClickHouse insert at most. Every insert writes a new part
/// (a directory of files per column), so ClickHouse wants few, large ones.
pub const MAX_GROUP_CLICKHOUSE: usize = 4096;

/// Requests waiting for the writer at most; senders wait beyond that.
pub const QUEUE: usize = 8192;

/// Why a batch was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The transaction failed; nothing of it was stored.
    #[error("storing the batch failed: {0}")]
    Failed(String),
    /// A retention pass failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer has stopped (shutting down, or it failed).
    #[error("the store writer has stopped")]
    Stopped,
}

enum Job {
    Ingest {
        /// Shared with the waiting handler, which drops the last reference
        /// once answered: a batch's allocations are freed on the handlers'
        /// threads, in parallel, not on the writer's (a tenth of its time).
        batch: Arc<Validated>,
        received: Date,
        ack: oneshot::Sender<Result<Ingested, WriteError>>,
    },
    Prune {
        today: Date,
        retention_days: u32,
        ack: std_mpsc::Sender<Result<Pruned, StoreError>>,
    },
    /// A tick (ClickHouse): the store's idle work runs also when no batch
    /// comes, such as completing a failed insert's aggregates once
    /// ClickHouse is back, while the clients send to another replica.
    Idle,
}

/// How often the writer of a ClickHouse store is woken for its idle work.
const IDLE_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// A handle request handlers use to submit batches.
#[derive(Clone, Debug)]
pub struct WriterHandle {
    tx: mpsc::Sender<Job>,
}

/// The writer thread; [`Writer::finish`] closes the store.
#[derive(Debug)]
pub struct Writer {
    handle: Option<WriterHandle>,
    thread: JoinHandle<Result<(), StoreError>>,
}

impl Writer {
    /// Starts the writer thread, which owns `store` from now on and
    /// reports each commit's success or failure to `health`.
    pub fn spawn(store: impl Into<AnyStore>, health: Arc<Health>) -> std::io::Result<Writer> {
        let store = store.into();
        let (tx, rx) = mpsc::channel(QUEUE);
        if matches!(store, AnyStore::ClickHouse(_)) {
            // A weak sender: the channel still closes when the last handle
            // is dropped, which is what stops the writer.
            let weak = tx.downgrade();
            std::thread::Builder::new()
                .name("tally-store-tick".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(IDLE_TICK);
                        match weak.upgrade() {
                            Some(tx) => {
                                let _ = tx.try_send(Job::Idle);
                            }
                            None => break,
                        }
                    }
                })?;
        }
        let thread = std::thread::Builder::new()
            .name("tally-store-writer".into())
            .spawn(move || run(store, rx, &health))?;
        Ok(Writer {
            handle: Some(WriterHandle { tx }),
            thread,
        })
    }

    /// A handle to submit batches with.
    pub fn handle(&self) -> WriterHandle {
        self.handle.clone().expect("handle taken only by finish")
    }

    /// Drops this owner's handle and waits until every other handle is gone
    /// and everything submitted is committed; then closes the store.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.handle = None;
        self.thread.join().unwrap_or(Ok(()))
    }
}

impl WriterHandle {
    /// Submits a batch and waits until it is committed (or failed).
    pub async fn ingest(&self, batch: Validated, received: Date) -> Result<Ingested, WriteError> {
        let (ack, done) = oneshot::channel();
        let batch = Arc::new(batch);
        self.tx
            .send(Job::Ingest {
                batch: Arc::clone(&batch),
                received,
                ack,
            })
            .await
            .map_err(|_| WriteError::Stopped)?;
        let outcome = done.await.map_err(|_| WriteError::Stopped)?;
        drop(batch);
        outcome
    }

    /// Runs a retention pass on the writer thread and waits for it.
    pub fn prune_blocking(&self, today: Date, retention_days: u32) -> Result<Pruned, WriteError> {
        let (ack, done) = std_mpsc::channel();
        self.tx
            .blocking_send(Job::Prune {
                today,
                retention_days,
                ack,
            })
            .map_err(|_| WriteError::Stopped)?;
        Ok(done.recv().map_err(|_| WriteError::Stopped)??)
    }

    /// Requests a retention pass without waiting (from async code).
    pub async fn prune(&self, today: Date, retention_days: u32) -> Result<(), WriteError> {
        let (ack, _done) = std_mpsc::channel();
        self.tx
            .send(Job::Prune {
                today,
                retention_days,
                ack,
            })
            .await
            .map_err(|_| WriteError::Stopped)
    }

    /// Whether the writer thread is still running.
    pub fn alive(&self) -> bool {
        !self.tx.is_closed()
    }
}

/// A batch waiting for the next commit, and where its answer goes.
type Pending = (
    Arc<Validated>,
    Date,
    oneshot::Sender<Result<Ingested, WriteError>>,
);

/// A stored batch whose answer waits for the check of its insert
/// (ClickHouse: the next group's lookup, or the idle writer's).
type Stored = (oneshot::Sender<Result<Ingested, WriteError>>, Ingested);

/// Sends the answers of batches whose insert has been checked.
fn answer(stored: &mut Vec<Stored>) {
    for (ack, outcome) in stored.drain(..) {
        let _ = ack.send(Ok(outcome));
    }
}

fn run(
    mut store: AnyStore,
    mut rx: mpsc::Receiver<Job>,
    health: &Health,
) -> Result<(), StoreError> {
    let max_group = match store {
        AnyStore::Sqlite(_) => MAX_GROUP,
        AnyStore::ClickHouse(_) => MAX_GROUP_CLICKHOUSE,
    };
    let mut group: Vec<Pending> = Vec::with_capacity(max_group);
    let mut stored: Vec<Stored> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Ingest {
                    batch,
                    received,
                    ack,
                } => group.push((batch, received, ack)),
                Job::Prune {
                    today,
                    retention_days,
                    ack,
                } => {
                    // Keep order: commit what came before the prune first.
                    commit(&mut store, &mut group, &mut stored, health);
                    let result = store.prune(today, retention_days);
                    match &result {
                        Ok(p) => eprintln!(
                            "tally serve: retention: removed {} usage rows, {} machine-days, {} batches older than {retention_days} days",
                            p.usage, p.machine_days, p.batches
                        ),
                        Err(e) => eprintln!("tally serve: retention pass failed: {e}"),
                    }
                    let _ = ack.send(result);
                }
                Job::Idle => {}
            }
            if group.len() < max_group {
                next = rx.try_recv().ok();
            }
        }
        commit(&mut store, &mut group, &mut stored, health);
        if rx.is_empty() {
            // Nothing waiting: the last insert's check runs now, not with
            // the next group's lookup.
            store.idle();
            answer(&mut stored);
        }
    }
    store.idle();
    answer(&mut stored);
    store.close()
}

/// Stores `group`. Its answers go out at once, or (ClickHouse) wait in
/// `stored` for the check of its insert, which the next commit's lookup
/// makes: that commit answers them. One lookup per group instead of two
/// roughly halved the p99 under load (docs/PERFORMANCE.md); ClickHouse's
/// CPU per batch stayed about the same.
fn commit(
    store: &mut AnyStore,
    group: &mut Vec<Pending>,
    stored: &mut Vec<Stored>,
    health: &Health,
) {
    if group.is_empty() {
        return;
    }
    let items: Vec<(&Validated, Date)> = group.iter().map(|(b, d, _)| (&**b, *d)).collect();
    let mut previous = std::mem::take(stored);
    let result = store.ingest_group_deferred(&items, &mut || answer(&mut previous));
    drop(items);
    match result {
        Ok(outcomes) => {
            health.recover();
            stored.extend(
                group
                    .drain(..)
                    .zip(outcomes)
                    .map(|((_, _, ack), o)| (ack, o)),
            );
            if !store.defers_answers() {
                answer(stored);
            }
        }
        Err(e) => {
            eprintln!(
                "tally serve: storing {} batch(es) failed, answering 503: {e}",
                group.len()
            );
            let msg = e.to_string();
            // A store that did not answer in time opens the circuit, as the
            // handler's own wait does: whichever of the two timers runs out
            // first, the next batches are refused at once.
            if matches!(e, StoreError::ClickHouseTimeout { .. }) {
                health.fail(&msg);
            } else {
                health.fail_commit(&msg);
            }
            for (_, _, ack) in group.drain(..) {
                let _ = ack.send(Err(WriteError::Failed(msg.clone())));
            }
        }
    }
}
