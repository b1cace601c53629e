//! Generates TELEMETRY.md's field reference from the schema table, so the
//! user contract is the code's own description of itself. The generated part
//! sits between two marker comments; the prose around it is hand-written.

use std::fmt::Write;

use crate::schema::{self, Field, Kind};

/// Marks the start of the generated part.
pub const BEGIN: &str = "<!-- BEGIN GENERATED FROM the schema (crates/tally-telemetry/src/schema/): do not edit by hand; run `tally generate telemetry-md TELEMETRY.md` -->";
/// Marks its end.
pub const END: &str = "<!-- END GENERATED -->";

/// The field reference, as Markdown.
pub fn reference() -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Schema version {}, consent version {}. Batches are posted as JSON to `{}`; bodies over {} KB are refused.\n",
        schema::SCHEMA_VERSION,
        schema::CONSENT_VERSION,
        schema::BATCH_PATH,
        schema::MAX_BODY_BYTES / 1024
    );
    let _ = writeln!(s, "### Envelope (every batch)\n");
    table(&mut s, "envelope.", schema::ENVELOPE);
    for e in schema::EVENTS {
        let _ = writeln!(s, "\n### Event `{}`\n\n{}\n", e.name, e.doc);
        table(&mut s, "", e.fields);
        for f in e.fields {
            if let Kind::List { fields, .. } = &f.kind {
                let _ = writeln!(s, "\nEach item of `{}`:\n", f.name);
                table(&mut s, &format!("{}[].", f.name), fields);
            }
        }
    }
    s
}

fn table(s: &mut String, prefix: &str, fields: &[Field]) {
    let _ = writeln!(s, "| field | type and limits | required | meaning |");
    let _ = writeln!(s, "|---|---|---|---|");
    for f in fields {
        let _ = writeln!(
            s,
            "| `{prefix}{}` | {} | {} | {} |",
            f.name,
            kind_text(&f.kind),
            if f.required { "yes" } else { "no" },
            f.doc.replace('|', "\\|")
        );
    }
}

fn kind_text(k: &Kind) -> String {
    match k {
        Kind::Str(p) => format!("string: {}", p.describe()),
        Kind::Enum(v) => format!(
            "one of {}",
            v.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::Int { min, max } => format!("integer {min}..={max}"),
        Kind::Bool => "boolean".into(),
        Kind::IntArray { len, max } => format!("array of {len} integers 0..={max}"),
        Kind::List { max, .. } => format!("array of at most {max} objects (below)"),
    }
    .replace('|', "\\|")
}

/// Replaces the generated part of `text` with the current reference.
pub fn splice(text: &str) -> Result<String, String> {
    let start = text.find(BEGIN).ok_or("the BEGIN marker is missing")?;
    let end = text.find(END).ok_or("the END marker is missing")?;
    if end < start {
        return Err("the END marker comes before BEGIN".into());
    }
    Ok(format!(
        "{}{BEGIN}\n\n{}\n{END}{}",
        &text[..start],
        reference(),
        &text[end + END.len()..]
    ))
}
