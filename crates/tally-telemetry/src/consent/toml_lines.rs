//! Line edits of TOML files that keep every comment: setting and removing
//! top-level keys of tally's flat consent file, and cutting one `[table]`
//! out of a host's file. Both files are small and their shape is known, so
//! editing lines is enough and spares every host a format-preserving TOML
//! library. Every edit is checked by parsing the result: a file whose lines
//! are not what they seem (a key inside a multi-line string, a dotted or
//! quoted key) makes the caller fall back to a safe path, never to a wrong
//! file.

/// A value tally writes into its consent file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar<'a> {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A basic string, escaped as TOML requires.
    Str(&'a str),
}

impl Scalar<'_> {
    /// The value as TOML source.
    pub fn render(self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Str(s) => {
                let mut out = String::with_capacity(s.len() + 2);
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        '\r' => out.push_str("\\r"),
                        c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
                out
            }
        }
    }
}

/// The bare key a line assigns (`key = …`), if it is such a line.
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(t.len());
    let (key, rest) = t.split_at(end);
    (!key.is_empty() && rest.trim_start().starts_with('=')).then_some(key)
}

/// Whether a line opens a table (`[name]` or `[[name]]`).
fn is_header(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

/// Sets (`Some`) or removes (`None`) top-level keys of a flat document,
/// replacing a key's line where it is and appending new keys at the end.
pub fn set_keys(text: &str, changes: &[(&str, Option<Scalar<'_>>)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (key, value) in changes {
        let at = lines
            .iter()
            .take_while(|l| !is_header(l))
            .position(|l| key_of(l) == Some(key));
        match (at, value) {
            (Some(i), Some(v)) => lines[i] = format!("{key} = {}", v.render()),
            (Some(i), None) => {
                lines.remove(i);
            }
            (None, Some(v)) => lines.push(format!("{key} = {}", v.render())),
            (None, None) => {}
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Cuts the table `[name]` out of a document: its header, keys and values
/// go; the comments above it stay where they are, and the comments inside
/// it (whole lines, or after a value) stay in its place, except lines equal
/// to one of `drop_comments`. `None` when there is no such header.
pub fn remove_table(text: &str, name: &str, drop_comments: &[&str]) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        let t = l.trim();
        let t = t.split_once('#').map_or(t, |(h, _)| h.trim_end());
        t.strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .is_some_and(|inner| inner.trim() == name)
    })?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| is_header(l))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out: Vec<String> = lines[..start]
        .iter()
        .map(|l| l.to_string())
        .filter(|l| !drop_comments.contains(&l.trim()))
        .collect();
    for line in &lines[start..end] {
        let t = line.trim();
        let comment = if t.is_empty() || t.starts_with('#') {
            Some(t)
        } else {
            // A comment after a value: the last `#` outside quotes. The
            // values here are tally's own scalars, and the caller checks
            // the result parses to the document minus the table.
            line.rfind('#')
                .map(|i| line[i..].trim())
                .filter(|c| !c.contains('"') && !c.contains('\''))
        };
        if let Some(c) = comment.filter(|c| !drop_comments.contains(c)) {
            out.push(c.to_owned());
        }
    }
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    if out.iter().all(|l| l.trim().is_empty()) {
        return Some(String::new());
    }
    let mut s = out.join("\n");
    s.push('\n');
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_set_in_place_appended_and_removed() {
        let text = "# mine\nenabled = true # old\n\nendpoint = \"x\"\n";
        let out = set_keys(
            text,
            &[
                ("enabled", Some(Scalar::Bool(false))),
                ("decided_via", Some(Scalar::Str("com\"mand\n"))),
                ("endpoint", None),
                ("absent", None),
            ],
        );
        assert_eq!(
            out,
            "# mine\nenabled = false\n\ndecided_via = \"com\\\"mand\\n\"\n"
        );
        let parsed: toml::Table = out.parse().unwrap();
        assert_eq!(parsed["decided_via"].as_str(), Some("com\"mand\n"));
    }

    #[test]
    fn strings_with_control_characters_stay_valid_toml() {
        let s = "a\u{1}b\u{7f}\\";
        let text = set_keys("", &[("k", Some(Scalar::Str(s)))]);
        let parsed: toml::Table = text.parse().unwrap();
        assert_eq!(parsed["k"].as_str(), Some(s));
    }

    #[test]
    fn a_table_is_cut_with_its_comments_kept() {
        let text =
            "a = 1\n# above\n[telemetry] # t\n# inside\nenabled = false # no\n\n[b]\nc = 2\n";
        let out = remove_table(text, "telemetry", &[]).unwrap();
        assert_eq!(out, "a = 1\n# above\n# t\n# inside\n# no\n\n[b]\nc = 2\n");
        assert!(remove_table("a = 1\n", "telemetry", &[]).is_none());
        assert_eq!(
            remove_table("# gone\n[telemetry]\nx = 1\n", "telemetry", &["# gone"]).unwrap(),
            ""
        );
    }
}
