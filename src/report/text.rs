//! The report as a person reads it: a heading, then one aligned table per
//! section, numbers right-aligned under their headers. Colour (owo-colors)
//! only when the caller says so, which the CLI decides from `NO_COLOR` and
//! whether stdout is a terminal. Everything shown comes from [`Report`], so
//! the tables hide exactly what the JSON hides.

use std::collections::BTreeMap;
use std::io::{self, Write};

use owo_colors::OwoColorize;

use crate::report::Report;
use tally_telemetry::schema::{DURATION_LABELS, LATENCY_LABELS};

/// Column alignment.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Writes one aligned table: a bold header, then the rows.
fn table(
    out: &mut dyn Write,
    color: bool,
    title: &str,
    cols: &[(&str, Align)],
    rows: &[Vec<String>],
) -> io::Result<()> {
    writeln!(out)?;
    if color {
        writeln!(out, "{}", title.bold().underline())?;
    } else {
        writeln!(out, "{title}")?;
    }
    if rows.is_empty() {
        writeln!(out, "  (none)")?;
        return Ok(());
    }
    let mut widths: Vec<usize> = cols.iter().map(|(h, _)| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::from(" ");
        for ((cell, w), (_, align)) in cells.iter().zip(&widths).zip(cols) {
            let pad = w - cell.chars().count();
            s.push(' ');
            match align {
                Align::Left => {
                    s.push_str(cell);
                    s.push_str(&" ".repeat(pad));
                }
                Align::Right => {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(cell);
                }
            }
            s.push(' ');
        }
        s.trim_end().to_owned()
    };
    let header = line(cols.iter().map(|(h, _)| *h).collect());
    if color {
        writeln!(out, "{}", header.dimmed())?;
    } else {
        writeln!(out, "{header}")?;
    }
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Writes the report as aligned tables; `color` adds ANSI styling (bold
/// titles, dimmed headers).
pub fn render(r: &Report, color: bool, out: &mut dyn Write) -> io::Result<()> {
    use Align::{Left as L, Right as R};
    let scope = r.app.as_deref().unwrap_or("all apps");
    let head = format!(
        "tally report: {} to {}, {scope}; rows need at least {} machine(s)",
        r.since, r.until, r.min_machines
    );
    if color {
        writeln!(out, "{}", head.bold())?;
    } else {
        writeln!(out, "{head}")?;
    }
    writeln!(
        out,
        "active machines: {} ({} in CI)",
        r.machines, r.ci_machines
    )?;
    if r.withheld_rows > 0 {
        writeln!(
            out,
            "withheld: {} row(s) backed by fewer than {} machines even when folded into `other`",
            r.withheld_rows, r.min_machines
        )?;
    }

    let rows: Vec<Vec<String>> = r
        .days
        .iter()
        .map(|d| vec![d.day.clone(), d.machines.to_string()])
        .collect();
    table(
        out,
        color,
        "Active machines per day",
        &[("day", L), ("machines", R)],
        &rows,
    )?;

    let outcome = |c: &crate::report::CommandRow, o: &str| c.outcomes.get(o).copied().unwrap_or(0);
    // More than one application in the window: each row says whose.
    let by_app = r.commands.iter().any(|c| c.app.is_some());
    let app_cell = |c: &crate::report::CommandRow| {
        by_app.then(|| c.app.clone().unwrap_or_else(|| "other".into()))
    };
    let rows: Vec<Vec<String>> = r
        .commands
        .iter()
        .map(|c| {
            let mut row: Vec<String> = app_cell(c).into_iter().collect();
            row.extend([
                c.command.clone(),
                c.count.to_string(),
                pct(c.failure_rate),
                outcome(c, "usage_error").to_string(),
                outcome(c, "interrupted").to_string(),
            ]);
            row.extend(c.duration.iter().map(u64::to_string));
            row.push(c.machines.to_string());
            row
        })
        .collect();
    let mut cols: Vec<_> = by_app.then_some(("app", L)).into_iter().collect();
    cols.extend([
        ("command", L),
        ("runs", R),
        ("failed", R),
        ("usage err", R),
        ("interrupted", R),
    ]);
    cols.extend(DURATION_LABELS.iter().map(|l| (*l, R)));
    cols.push(("machines", R));
    table(out, color, "Commands", &cols, &rows)?;

    // Only hosts that record a value have this table; the others never
    // see an empty one.
    if !r.values.is_empty() {
        let rows: Vec<Vec<String>> = r
            .values
            .iter()
            .map(|v| {
                let mut row: Vec<String> = by_app
                    .then(|| v.app.clone().unwrap_or_else(|| "other".into()))
                    .into_iter()
                    .collect();
                row.extend([
                    v.command.clone(),
                    v.value.clone(),
                    v.count.to_string(),
                    v.machines.to_string(),
                ]);
                row
            })
            .collect();
        let mut cols: Vec<_> = by_app.then_some(("app", L)).into_iter().collect();
        cols.extend([("command", L), ("value", L), ("runs", R), ("machines", R)]);
        table(out, color, "Commands by value", &cols, &rows)?;
    }

    // Which commands fail: the question tool authors ask most, so its own
    // ranking, failure rate first, runs to break ties.
    let mut failing: Vec<&crate::report::CommandRow> = r
        .commands
        .iter()
        .filter(|c| outcome(c, "failure") > 0)
        .collect();
    failing.sort_by(|a, b| {
        b.failure_rate
            .total_cmp(&a.failure_rate)
            .then(b.count.cmp(&a.count))
            .then(a.command.cmp(&b.command))
    });
    let rows: Vec<Vec<String>> = failing
        .iter()
        .map(|c| {
            let mut row: Vec<String> = app_cell(c).into_iter().collect();
            row.extend([
                c.command.clone(),
                pct(c.failure_rate),
                outcome(c, "failure").to_string(),
                c.count.to_string(),
            ]);
            row
        })
        .collect();
    let mut cols: Vec<_> = by_app.then_some(("app", L)).into_iter().collect();
    cols.extend([("command", L), ("failed", R), ("failures", R), ("runs", R)]);
    table(out, color, "Commands by failure rate", &cols, &rows)?;

    let tools_by_app = r.tools.iter().any(|t| t.app.is_some());
    let rows: Vec<Vec<String>> = r
        .tools
        .iter()
        .map(|t| {
            let mut row: Vec<String> = tools_by_app
                .then(|| t.app.clone().unwrap_or_else(|| "other".into()))
                .into_iter()
                .collect();
            row.extend([
                t.tool.clone(),
                t.calls.to_string(),
                pct(t.success_rate),
                pct(t.tool_error_rate),
                pct(t.protocol_error_rate),
            ]);
            row.extend(t.latency.iter().map(u64::to_string));
            row.push(t.machines.to_string());
            row
        })
        .collect();
    let mut cols: Vec<_> = tools_by_app.then_some(("app", L)).into_iter().collect();
    cols.extend([
        ("tool", L),
        ("calls", R),
        ("ok", R),
        ("tool err", R),
        ("proto err", R),
    ]);
    cols.extend(LATENCY_LABELS.iter().map(|l| (*l, R)));
    cols.push(("machines", R));
    table(out, color, "MCP tool calls", &cols, &rows)?;
    let classes: BTreeMap<&str, u64> =
        r.tools
            .iter()
            .flat_map(|t| &t.error_classes)
            .fold(BTreeMap::new(), |mut m, (c, n)| {
                *m.entry(c.as_str()).or_default() += n;
                m
            });
    if !classes.is_empty() {
        let list: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        writeln!(out, "  protocol errors by class: {}", list.join(", "))?;
    }

    let rows: Vec<Vec<String>> = r
        .clients
        .iter()
        .map(|c| {
            vec![
                c.client.clone(),
                c.major.map_or_else(|| "-".into(), |m| m.to_string()),
                c.sessions.to_string(),
                c.machines.to_string(),
            ]
        })
        .collect();
    table(
        out,
        color,
        "MCP clients",
        &[
            ("client", L),
            ("major", R),
            ("sessions", R),
            ("machines", R),
        ],
        &rows,
    )?;

    let rows: Vec<Vec<String>> = r
        .versions
        .iter()
        .map(|v| vec![v.app.clone(), v.version.clone(), v.machines.to_string()])
        .collect();
    table(
        out,
        color,
        "App versions",
        &[("app", L), ("version", L), ("machines", R)],
        &rows,
    )?;

    let rows: Vec<Vec<String>> = r
        .platforms
        .iter()
        .map(|p| vec![p.os.clone(), p.arch.clone(), p.machines.to_string()])
        .collect();
    table(
        out,
        color,
        "OS / architecture",
        &[("os", L), ("arch", L), ("machines", R)],
        &rows,
    )?;

    let rows: Vec<Vec<String>> = r
        .lifecycle
        .iter()
        .map(|l| vec![l.kind.clone(), l.count.to_string(), l.machines.to_string()])
        .collect();
    table(
        out,
        color,
        "Lifecycle events",
        &[("event", L), ("count", R), ("machines", R)],
        &rows,
    )?;

    let rows: Vec<Vec<String>> = r
        .facts
        .iter()
        .map(|f| vec![f.fact.clone(), f.value.clone(), f.machines.to_string()])
        .collect();
    table(
        out,
        color,
        "Deployment facts",
        &[("fact", L), ("value", L), ("machines", R)],
        &rows,
    )?;

    let d = &r.dropped;
    let rows = vec![
        vec![
            "lost on clients (reported)".to_owned(),
            d.client_reported.to_string(),
        ],
        vec![
            "unknown events (server)".to_owned(),
            d.unknown_events.to_string(),
        ],
        vec![
            "unknown fields (server)".to_owned(),
            d.unknown_fields.to_string(),
        ],
        vec![
            "values outside the schema (server)".to_owned(),
            d.invalid_values.to_string(),
        ],
        vec![
            "days outside the window (server)".to_owned(),
            d.out_of_window.to_string(),
        ],
    ];
    table(out, color, "Dropped", &[("what", L), ("count", R)], &rows)?;
    Ok(())
}
