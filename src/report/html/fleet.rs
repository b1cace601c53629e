//! Who calls and where it runs, and what was lost: MCP clients, app
//! versions, OS and architecture, lifecycle events, deployment facts, and
//! the drop and withholding counters. Each row with the machines behind it.

use std::fmt::Write as _;

use super::chart::{self, BLUE};
use super::fmt::count;
use super::{empty, name_cell, num_cell, section_open, table_open};
use crate::report::Report;

/// A table of `(cells, machines-or-count for the bar)` rows, with a bar
/// column scaled to the largest.
fn bar_table(s: &mut String, heads: &[(&str, bool)], rows: Vec<(Vec<String>, u64)>) {
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0);
    table_open(s, heads);
    for (cells, n) in rows {
        s.push_str("<tr>");
        for c in cells {
            s.push_str(&c);
        }
        let _ = write!(s, r#"<td class="bar">{}</td>"#, chart::hbar(n, max, BLUE));
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
}

pub(super) fn clients(s: &mut String, r: &Report) {
    section_open(
        s,
        "clients",
        "MCP clients",
        "Sessions per client and major version.",
    );
    if r.clients.is_empty() {
        empty(s, r, "No MCP sessions in this period.");
    } else {
        let rows = r
            .clients
            .iter()
            .map(|c| {
                let major = c.major.map_or_else(|| "–".to_owned(), |m| m.to_string());
                (
                    vec![
                        name_cell(&c.client),
                        num_cell(&major),
                        num_cell(&count(c.sessions)),
                        num_cell(&count(c.machines as u64)),
                    ],
                    c.sessions,
                )
            })
            .collect();
        bar_table(
            s,
            &[
                ("client", false),
                ("major", true),
                ("sessions", true),
                ("machines", true),
                ("", false),
            ],
            rows,
        );
    }
    s.push_str("</section>");
}

pub(super) fn versions_and_platforms(s: &mut String, r: &Report) {
    s.push_str(r#"<div class="pair">"#);
    section_open(s, "versions", "App versions", "Machines per version.");
    if r.versions.is_empty() {
        empty(s, r, "No machines reported in this period.");
    } else {
        let rows = r
            .versions
            .iter()
            .map(|v| {
                (
                    vec![
                        name_cell(&v.app),
                        name_cell(&v.version),
                        num_cell(&count(v.machines as u64)),
                    ],
                    v.machines as u64,
                )
            })
            .collect();
        bar_table(
            s,
            &[
                ("app", false),
                ("version", false),
                ("machines", true),
                ("", false),
            ],
            rows,
        );
    }
    s.push_str("</section>");
    section_open(
        s,
        "platforms",
        "OS and architecture",
        "Machines per platform.",
    );
    if r.platforms.is_empty() {
        empty(s, r, "No machines reported in this period.");
    } else {
        let rows = r
            .platforms
            .iter()
            .map(|p| {
                (
                    vec![
                        name_cell(&p.os),
                        name_cell(&p.arch),
                        num_cell(&count(p.machines as u64)),
                    ],
                    p.machines as u64,
                )
            })
            .collect();
        bar_table(
            s,
            &[
                ("os", false),
                ("arch", false),
                ("machines", true),
                ("", false),
            ],
            rows,
        );
    }
    s.push_str("</section></div>");
}

pub(super) fn lifecycle_and_facts(s: &mut String, r: &Report) {
    s.push_str(r#"<div class="pair">"#);
    section_open(
        s,
        "lifecycle",
        "Lifecycle events",
        "Installs, upgrades and uninstalls.",
    );
    if r.lifecycle.is_empty() {
        empty(s, r, "No installs, upgrades or uninstalls in this period.");
    } else {
        let rows = r
            .lifecycle
            .iter()
            .map(|l| {
                (
                    vec![
                        name_cell(&l.kind),
                        num_cell(&count(l.count)),
                        num_cell(&count(l.machines as u64)),
                    ],
                    l.count,
                )
            })
            .collect();
        bar_table(
            s,
            &[
                ("event", false),
                ("count", true),
                ("machines", true),
                ("", false),
            ],
            rows,
        );
    }
    s.push_str("</section>");
    section_open(
        s,
        "facts",
        "Deployment facts",
        "What deployments reported about themselves.",
    );
    if r.facts.is_empty() {
        empty(s, r, "No deployment facts in this period.");
    } else {
        let rows = r
            .facts
            .iter()
            .map(|f| {
                (
                    vec![
                        name_cell(&f.fact),
                        name_cell(&f.value),
                        num_cell(&count(f.machines as u64)),
                    ],
                    f.machines as u64,
                )
            })
            .collect();
        bar_table(
            s,
            &[
                ("fact", false),
                ("value", false),
                ("machines", true),
                ("", false),
            ],
            rows,
        );
    }
    s.push_str("</section></div>");
}

pub(super) fn dropped(s: &mut String, r: &Report) {
    section_open(
        s,
        "dropped",
        "What was dropped, and why",
        "Data that never reached the tables above: lost on the way, refused by the schema, or held back for privacy.",
    );
    let d = &r.dropped;
    let rows = [
        (
            d.client_reported,
            "rows lost on clients",
            "spool full or unreadable; clients report how many",
        ),
        (
            d.unknown_events,
            "unknown events",
            "event types the schema does not define, removed by the server",
        ),
        (
            d.unknown_fields,
            "unknown fields",
            "fields the schema does not define, removed by the server",
        ),
        (
            d.invalid_values,
            "values outside the schema",
            "names or values of the wrong shape, removed by the server",
        ),
        (
            d.out_of_window,
            "days outside the window",
            "events for days too old or in the future",
        ),
    ];
    if rows.iter().all(|(n, _, _)| *n == 0) {
        empty(s, r, "Nothing was dropped in this period.");
    } else {
        table_open(s, &[("what", false), ("count", true), ("why", false)]);
        for (n, what, why) in rows.iter().filter(|(n, _, _)| *n > 0) {
            let _ = write!(
                s,
                r#"<tr><td class="name">{what}</td>{}<td class="why">{why}</td></tr>"#,
                num_cell(&count(*n))
            );
        }
        s.push_str("</tbody></table>");
    }
    if r.withheld_rows > 0 {
        let _ = write!(
            s,
            r#"<p class="note">Withheld for privacy: {} row(s) backed by fewer than {} machines even when folded into <i>other</i>.</p>"#,
            r.withheld_rows, r.min_machines
        );
    } else {
        let _ = write!(
            s,
            r#"<p class="note">No row was withheld for privacy (k = {}).</p>"#,
            r.min_machines
        );
    }
    s.push_str("</section>");
}
