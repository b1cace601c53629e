//! The ClickHouse store's tables, and why a report reads small ones.
//!
//! `rows` holds every stored row per machine and batch (the record of
//! truth: retention, repairs, settled copies). A report over it reads every row of
//! the window, 100 million of them at scale, and counting distinct machines
//! exactly over those dominated it (50 s over 100M rows). So materialized
//! views fold each insert, as part of it, into small tables keyed by what a
//! report groups by, and the report reads only those:
//!
//! - `usage_agg` (a SummingMergeTree) per kind, app, event day, name,
//!   variant and class: the summed counts and buckets.
//! - `machines_agg` (an AggregatingMergeTree) per kind, app, day and label
//!   (the name; with the variant for clients and facts, whose rows are
//!   labelled by both): the distinct machines as a `uniqCombined(12)` state.
//! - `envelope_agg` per app, day, version, OS, arch and CI: the same, from
//!   the machine-day rows.
//!
//! A report merges one state per day and label, so its cost follows the
//! number of days and labels, not of rows or machines. `uniqCombined(12)`
//! keeps a state's machine ids (as 32-bit hashes) while there are up to
//! about 256 of them, so small counts, where k-anonymity decides, are
//! exact; past that it becomes a HyperLogLog of 4,096 cells (2.5 KB, about
//! 1.6 % error). Exact distinct counts cost in proportion to the machines:
//! `uniqExact` took most of the 50 s, and full-size `uniqCombined` states
//! (80 KB each) grow with the machines per state until they are estimated
//! anyway. A union of states is a distinct count again: a machine seen on
//! two days or in two outcomes is counted once.
//!
//! Exactly once: a view sees every insert, also the second copy of a batch
//! that two replicas inserted at the same instant. Distinct-machine states
//! do not mind a copy; sums do. The writer that settles such a race copies
//! the duplicate copy's rows (found by their sorting-key prefix) into
//! `dup_rows`, and the report subtracts them. That needs the copy still
//! there when it is settled, so `rows` is a plain MergeTree (a replacing
//! merge would remove it): copies of a raced batch stay, each recorded.
//!
//! An insert and its views are not one transaction: ClickHouse writes the
//! insert's part of `rows` and then each view's table in turn, so a
//! ClickHouse that stops in between keeps the rows (a client's retry finds
//! them and is not stored again) without some view's share. Each insert
//! carries a row marking it, which every view passes on, and the replica
//! that sent an insert that failed completes the tables that lack the mark
//! ([`repair_group`]) before its next insert.
//!
//! The batch-id lookup has a table of its own, `batch_ids` (batch id,
//! `seq`, day received, kind), fed by a view like the others: ordered by
//! batch id in granules of 256 rows, so a lookup reads only the granules
//! its ids fall in, not every marker row of the month. Each insert's group
//! row goes there too (the nil batch id), so a repair can tell whether it
//! got the insert's share.
//!
//! Every table is partitioned by month of receipt, so retention drops the
//! same partitions everywhere.
//!
//! Replicated (`?cluster=NAME`): every table is the `Replicated…` variant
//! of its engine, registered in ZooKeeper under
//! `/clickhouse/tables/tally/NAME/DATABASE/TABLE` with the node's
//! `{replica}` macro as its replica name. Each `tally serve` creates the
//! tables on the node it writes to, not `ON CLUSTER`: a distributed DDL
//! waits for every node (180 s by default) and a node that is down would
//! keep every replica from starting; a node that comes back, or is added,
//! gets its tables when a `tally serve` pointed at it starts, and fetches
//! their data from the others. The views run on the node an insert reaches
//! and their tables replicate like `rows`, so every node holds the same
//! aggregates. Each insert's view blocks carry its marker row, so
//! ClickHouse's deduplication of identical replicated blocks never drops
//! one insert's aggregates as a copy of another's.

use tally_telemetry::schema::Date;

use crate::server::rows::RowKind;
use crate::server::store::StoreError;
use crate::server::store::clickhouse::{
    ClickHouse, KIND_BATCH, KIND_DROP, KIND_GROUP, KIND_MACHINE_DAY, quote,
};
use tally_telemetry::schema::format_day;

/// The tables retention drops partitions of.
pub(crate) const TABLES: [&str; 7] = [
    "rows",
    "dups",
    "usage_agg",
    "machines_agg",
    "envelope_agg",
    "dup_rows",
    "batch_ids",
];

/// Rows per mark of `batch_ids`: a lookup of a group's ids (2,000 or so)
/// reads at most that many granules of this many rows, however many
/// batches the month holds (`rows`' 8,192 made a lookup read every marker
/// row). Smaller costs more index in memory (24 bytes a mark, 9 MB for 100
/// million batches at 256) and more work matching the id set against it:
/// after 20 million batches a lookup took 28-29 ms with 32 as with 256.
const BATCH_IDS_GRANULARITY: u32 = 256;

/// The summed columns of a usage row.
pub(crate) const SUMS: [&str; 8] = ["count", "l0", "l1", "l2", "l3", "l4", "l5", "l6"];

/// Rows the usage view aggregates: usage kinds and drop counters.
pub(crate) fn usage_kinds() -> String {
    format!("(kind < {KIND_BATCH} OR kind = {KIND_DROP})")
}

fn usage_select(db: &str, filter: &str) -> String {
    let sums: Vec<String> = SUMS.iter().map(|c| format!("sum({c}) AS {c}")).collect();
    format!(
        "SELECT received, kind, app, day, name, variant, class, {}
         FROM {db}.rows WHERE ({} OR kind = {KIND_GROUP}) {filter}
         GROUP BY received, kind, app, day, name, variant, class",
        sums.join(", "),
        usage_kinds()
    )
}

/// The label's variant: clients and facts are labelled by both.
fn label_variant() -> String {
    format!(
        "if(kind IN ({}, {}), variant, '')",
        RowKind::Client as u8,
        RowKind::Fact as u8
    )
}

fn machines_select(db: &str, filter: &str) -> String {
    // (18.16 loses aliases of a subquery in a view: no subquery here.)
    format!(
        "SELECT received, kind, app, day, name, {} AS label_variant,
                uniqCombinedState(12)(machine) AS machines
         FROM {db}.rows WHERE (kind < {KIND_BATCH} AND kind != {} OR kind = {KIND_GROUP}) {filter}
         GROUP BY received, kind, app, day, name, label_variant",
        label_variant(),
        RowKind::ClientDropped as u8,
    )
}

/// What `batch_ids` holds of `rows`: the marker rows, and each insert's
/// group row (for [`repair_group`]; its batch id is the nil UUID).
fn batch_ids_select(db: &str, filter: &str) -> String {
    format!(
        "SELECT received, batch_id, seq, kind FROM {db}.rows
         WHERE kind IN ({KIND_BATCH}, {KIND_GROUP}) {filter}"
    )
}

fn envelope_select(db: &str, filter: &str) -> String {
    format!(
        "SELECT received, app, day, version, os, arch, ci, uniqCombinedState(12)(machine) AS machines
         FROM {db}.rows WHERE kind IN ({KIND_MACHINE_DAY}, {KIND_GROUP}) {filter}
         GROUP BY received, app, day, version, os, arch, ci"
    )
}

/// The engine clause of `table`: `kind` (a MergeTree family engine), or
/// its replicated variant on a cluster.
fn engine(ch: &ClickHouse, table: &str, kind: &str) -> String {
    match &ch.url().cluster {
        None => format!("{kind}()"),
        Some(cluster) => format!(
            "Replicated{kind}('/clickhouse/tables/tally/{cluster}/{}/{table}', '{{replica}}')",
            ch.database()
        ),
    }
}

/// On a cluster: that ClickHouse knows the cluster and defines the
/// `{replica}` macro the replicated tables are named by, with what to do
/// if not.
fn check_cluster(ch: &ClickHouse, cluster: &str) -> Result<(), StoreError> {
    let known = ch.query_text(&format!(
        "SELECT count() FROM system.clusters WHERE cluster = {}",
        quote(cluster)
    ))?;
    if known.trim() == "0" {
        return Err(ch.error(format!(
            "this ClickHouse has no cluster {cluster:?} in its remote_servers; name one of its clusters in ?cluster= or add it to the server's config"
        )));
    }
    let macros = ch.query_text("SELECT count() FROM system.macros WHERE macro = 'replica'")?;
    if macros.trim() == "0" {
        return Err(ch.error(
            "this ClickHouse defines no {replica} macro, which names its replica of tally's tables; add <macros><replica>NAME</replica></macros>, a name unique in the cluster, to its config",
        ));
    }
    Ok(())
}

/// Whether the store's database has `table` yet.
fn exists(ch: &ClickHouse, table: &str) -> Result<bool, StoreError> {
    let db = ch.database();
    Ok(ch.query_text(&format!("EXISTS TABLE {db}.{table}"))?.trim() == "1")
}

/// Creates the database, the tables and the views if missing. A store made
/// before the views existed has its aggregates built once from `rows`.
pub(crate) fn create(ch: &ClickHouse) -> Result<(), StoreError> {
    let db = ch.database();
    if let Some(cluster) = &ch.url().cluster {
        check_cluster(ch, cluster)?;
    }
    ch.execute(&format!("CREATE DATABASE IF NOT EXISTS {db}"))?;
    ch.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.rows (
            received Date,
            seq UInt64,
            batch_id UUID,
            machine UInt64,
            app String,
            day Date,
            kind UInt8,
            name String,
            variant String,
            class String,
            count UInt64,
            l0 UInt64, l1 UInt64, l2 UInt64, l3 UInt64, l4 UInt64, l5 UInt64, l6 UInt64,
            version String,
            os String,
            arch String,
            ci UInt8
        ) ENGINE = {}
        PARTITION BY toYYYYMM(received)
        ORDER BY (kind, app, day, name, variant, class, machine, batch_id)",
        engine(ch, "rows", "MergeTree")
    ))?;
    ch.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.dups (
            received Date,
            batch_id UUID,
            seq UInt64
        ) ENGINE = {}
        PARTITION BY toYYYYMM(received)
        ORDER BY (batch_id, seq)",
        engine(ch, "dups", "ReplacingMergeTree")
    ))?;
    ch.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.dup_rows (
            received Date,
            seq UInt64,
            batch_id UUID,
            kind UInt8,
            app String,
            day Date,
            name String,
            variant String,
            class String,
            count UInt64,
            l0 UInt64, l1 UInt64, l2 UInt64, l3 UInt64, l4 UInt64, l5 UInt64, l6 UInt64
        ) ENGINE = {}
        PARTITION BY toYYYYMM(received)
        ORDER BY (batch_id, seq, kind, app, day, name, variant, class)",
        engine(ch, "dup_rows", "ReplacingMergeTree")
    ))?;
    let engine_now = ch.query_text(&format!(
        "SELECT engine FROM system.tables WHERE database = {} AND name = 'rows'",
        quote(db)
    ))?;
    let replicated = engine_now.trim().starts_with("Replicated");
    if replicated != ch.url().cluster.is_some() {
        return Err(ch.error(if replicated {
            format!(
                "database {db} holds replicated tables; add ?cluster=NAME (the cluster they were made on) to the store URL"
            )
        } else {
            format!(
                "database {db} holds tables of a single node, which cannot be replicated in place; use a new database for ?cluster= and copy the data with INSERT … SELECT"
            )
        }));
    }
    let existed = exists(ch, "usage_agg")?;
    ch.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.usage_agg (
            received Date,
            kind UInt8,
            app String,
            day Date,
            name String,
            variant String,
            class String,
            count UInt64,
            l0 UInt64, l1 UInt64, l2 UInt64, l3 UInt64, l4 UInt64, l5 UInt64, l6 UInt64
        ) ENGINE = {}
        PARTITION BY toYYYYMM(received)
        ORDER BY (kind, app, day, name, variant, class)",
        engine(ch, "usage_agg", "SummingMergeTree")
    ))?;
    ch.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.machines_agg (
            received Date,
            kind UInt8,
            app String,
            day Date,
            name String,
            label_variant String,
            machines AggregateFunction(uniqCombined(12), UInt64)
        ) ENGINE = {}
        PARTITION BY toYYYYMM(received)
        ORDER BY (kind, app, day, name, label_variant)",
        engine(ch, "machines_agg", "AggregatingMergeTree")
    ))?;
    ch.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.envelope_agg (
            received Date,
            app String,
            day Date,
            version String,
            os String,
            arch String,
            ci UInt8,
            machines AggregateFunction(uniqCombined(12), UInt64)
        ) ENGINE = {}
        PARTITION BY toYYYYMM(received)
        ORDER BY (app, day, version, os, arch, ci)",
        engine(ch, "envelope_agg", "AggregatingMergeTree")
    ))?;
    // The views exist only once their tables do; rows inserted from then
    // on are aggregated by ClickHouse as part of the insert.
    ch.execute(&format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.usage_view TO {db}.usage_agg AS {}",
        usage_select(db, "")
    ))?;
    ch.execute(&format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.machines_view TO {db}.machines_agg AS {}",
        machines_select(db, "")
    ))?;
    ch.execute(&format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.envelope_view TO {db}.envelope_agg AS {}",
        envelope_select(db, "")
    ))?;
    create_batch_ids(ch)?;
    // (A replicated store always had its views: its aggregates replicate,
    // and building them again on a new node would count everything twice.)
    if !existed && ch.url().cluster.is_none() {
        // A store from before the views: aggregate what it holds, leaving
        // out copies already recorded as duplicates. (Upgrade with the
        // other replicas stopped: rows they insert between the view's
        // creation and this statement would be counted twice.)
        let not_dup = format!("AND (batch_id, seq) NOT IN (SELECT batch_id, seq FROM {db}.dups)");
        ch.execute_long(&format!(
            "INSERT INTO {db}.usage_agg {}",
            usage_select(db, &not_dup)
        ))?;
        ch.execute_long(&format!(
            "INSERT INTO {db}.machines_agg {}",
            machines_select(db, "")
        ))?;
        ch.execute_long(&format!(
            "INSERT INTO {db}.envelope_agg {}",
            envelope_select(db, "")
        ))?;
    }
    Ok(())
}

/// Creates `batch_ids`, the batch-id lookup's own table, and its view. A
/// store made before it has it filled once from `rows`; on a cluster only
/// by the first node to create it (the others fetch it: a fetched part
/// never passes through a view). A marker row in it twice (filled while
/// an insert went through the view) is harmless: a lookup takes each
/// `seq` once. Upgrade with the other replicas stopped: batches an older
/// replica stores skip the view and a lookup would not find them.
fn create_batch_ids(ch: &ClickHouse) -> Result<(), StoreError> {
    let db = ch.database();
    let existed = exists(ch, "batch_ids")?;
    ch.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.batch_ids (
            received Date,
            batch_id UUID,
            seq UInt64,
            kind UInt8
        ) ENGINE = {}
        PARTITION BY toYYYYMM(received)
        ORDER BY (batch_id, seq)
        SETTINGS index_granularity = {BATCH_IDS_GRANULARITY}",
        engine(ch, "batch_ids", "MergeTree")
    ))?;
    ch.execute(&format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.batch_ids_view TO {db}.batch_ids AS {}",
        batch_ids_select(db, "")
    ))?;
    if existed {
        return Ok(());
    }
    if ch.url().cluster.is_some() {
        let replicas = ch.query_text(&format!(
            "SELECT total_replicas FROM system.replicas WHERE database = {} AND table = 'batch_ids'",
            quote(db)
        ))?;
        if replicas.trim().parse::<u64>().unwrap_or(1) > 1 {
            return Ok(());
        }
    }
    ch.execute_long(&format!(
        "INSERT INTO {db}.batch_ids {}",
        batch_ids_select(db, "")
    ))
}

/// Completes the views' share of the insert tagged `tag`, which failed.
/// ClickHouse writes an insert's part of `rows` first and then, one by
/// one, each view's; a ClickHouse that stops in between leaves rows that
/// a client's retry finds (so it is not stored again) and views that never
/// saw them. Each insert carries a [`KIND_GROUP`] row named by its tag,
/// which every view passes on: a table without it is fed the insert's rows
/// again (found by day received and `seq`, whose top bits are the tag),
/// that row included, in one statement, so a second repair finds it done.
/// Only the replica that sent the insert repairs it, one at a time.
pub(crate) fn repair_group(ch: &ClickHouse, tag: u64, received: Date) -> Result<(), StoreError> {
    let db = ch.database();
    let has = |sql: String| ch.query_text(&sql).map(|t| t.trim() != "0");
    let marker = format!("kind = {KIND_GROUP} AND app = '' AND day = toDate(0) AND name = '{tag}'");
    if !has(format!("SELECT count() FROM {db}.rows WHERE {marker}"))? {
        // Not stored at all: the clients send the batches again.
        return Ok(());
    }
    let group = format!(
        "AND received = toDate({}) AND seq >= {tag} AND seq < {tag} + 4096",
        quote(&format_day(received))
    );
    let tables = [
        ("usage_agg", marker.clone(), usage_select(db, &group)),
        ("machines_agg", marker, machines_select(db, &group)),
        (
            "envelope_agg",
            format!("app = '' AND day = toDate(0) AND version = '{tag}'"),
            envelope_select(db, &group),
        ),
        (
            "batch_ids",
            format!("batch_id = toUUID('{}') AND seq = {tag}", uuid::Uuid::nil()),
            batch_ids_select(db, &group),
        ),
    ];
    for (table, look, select) in tables {
        if !has(format!("SELECT count() FROM {db}.{table} WHERE {look}"))? {
            eprintln!(
                "tally serve: completing {table} with an insert ClickHouse stored only in part"
            );
            ch.execute_long(&format!("INSERT INTO {db}.{table} {select}"))?;
        }
    }
    Ok(())
}
