//! The consent file read without a TOML parser when it has the shape tally
//! writes: comments, blank lines and `key = value` lines whose values are
//! booleans, plain whole numbers or strings without escapes. Every run that
//! records reads this file, and the TOML parser costs such a run more than
//! the rest of resolving consent; any line of another shape (a table, an
//! escape, a float, a duplicate or unknown key, a wrong type) is left to
//! the TOML parser, which also words the error. A property test checks the
//! two agree.

use crate::consent::config::UserConfig;

/// One value of a flat line.
enum Flat<'a> {
    Bool(bool),
    Int(i64),
    Str(&'a str),
}

/// The settings of `text` when every line has the flat shape and every key
/// is known with the type it needs; `None` leaves the text to the TOML
/// parser.
pub fn parse(text: &str) -> Option<UserConfig> {
    let mut c = UserConfig::default();
    let mut seen = 0u8;
    for line in text.split_inclusive('\n') {
        // A line ends at LF or CRLF; a CR anywhere else is not a blank.
        let line = line
            .strip_suffix('\n')
            .map_or(line, |l| l.strip_suffix('\r').unwrap_or(l));
        let line = line.trim_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') && is_comment(line) {
            continue;
        }
        let (key, rest) = line.split_once('=')?;
        let key = key.trim_end_matches([' ', '\t']);
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return None;
        }
        let value = value(rest.trim_start_matches([' ', '\t']))?;
        let slot = UserConfig::KEYS.iter().position(|k| *k == key)?;
        if seen & (1 << slot) != 0 {
            return None;
        }
        seen |= 1 << slot;
        match (key, value) {
            ("enabled", Flat::Bool(b)) => c.enabled = Some(b),
            ("decided_at", Flat::Str(s)) => c.decided_at = Some(s.to_owned()),
            ("decided_via", Flat::Str(s)) => c.decided_via = Some(s.to_owned()),
            ("consent_version", Flat::Int(i)) => c.consent_version = Some(i.try_into().ok()?),
            ("notice_version", Flat::Int(i)) => c.notice_version = Some(i.try_into().ok()?),
            ("endpoint", Flat::Str(s)) => c.endpoint = Some(s.to_owned()),
            ("flush_interval_secs", Flat::Int(i)) => {
                c.flush_interval_secs = Some(i.try_into().ok()?)
            }
            _ => return None,
        }
    }
    Some(c)
}

/// A comment TOML accepts: no control character but tab.
fn is_comment(line: &str) -> bool {
    !line.chars().any(|c| c.is_control() && c != '\t')
}

/// The value at the start of `s` followed by nothing but blanks and an
/// optional comment.
fn value(s: &str) -> Option<Flat<'_>> {
    let (v, rest) = if let Some(body) = s.strip_prefix('"') {
        let end = body.find('"')?;
        let text = &body[..end];
        // An escape, or a character TOML wants escaped, is the parser's.
        if text
            .chars()
            .any(|c| c == '\\' || (c.is_control() && c != '\t'))
        {
            return None;
        }
        (Flat::Str(text), &body[end + 1..])
    } else {
        let end = s.find([' ', '\t', '#']).unwrap_or(s.len());
        let word = &s[..end];
        let v = match word {
            "true" => Flat::Bool(true),
            "false" => Flat::Bool(false),
            _ => Flat::Int(plain_int(word)?),
        };
        (v, &s[end..])
    };
    let rest = rest.trim_start_matches([' ', '\t']);
    (rest.is_empty() || rest.starts_with('#') && is_comment(rest)).then_some(v)
}

/// A decimal whole number without sign, underscores or leading zeros.
fn plain_int(word: &str) -> Option<i64> {
    let ok = !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_digit())
        && (word == "0" || !word.starts_with('0'));
    if ok { word.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_toml(text: &str) -> Option<UserConfig> {
        let table = text.parse::<toml::Table>().ok()?;
        UserConfig::from_table(&table).ok()
    }

    #[test]
    fn the_file_tally_writes_is_read_without_the_toml_parser() {
        let text = "# Telemetry consent, written by `telemetry on|off` and the prompt.\n\
                    # `telemetry status` shows what decides whether telemetry is on.\n\
                    enabled = true\n\
                    decided_at = \"2026-12-07T05:04:24Z\"\n\
                    decided_via = \"command\"\n\
                    consent_version = 2\n";
        let fast = parse(text).expect("flat");
        assert_eq!(Some(fast.clone()), by_toml(text));
        assert_eq!(fast.enabled, Some(true));
        assert_eq!(fast.consent_version, Some(2));
    }

    #[test]
    fn other_shapes_are_left_to_the_toml_parser() {
        for text in [
            "[telemetry]\nenabled = true\n",
            "enabled = true\nenabled = false\n",
            "enabled = \"yes\"\n",
            "endpoint = \"a\\u0041\"\n",
            "consent_version = 1_0\n",
            "consent_version = 01\n",
            "consent_version = -1\n",
            "consent_version = 4294967296\n",
            "flush_interval_secs = 1.5\n",
            "colour = true\n",
            "\"enabled\" = true\n",
            "enabled.x = true\n",
            "enabled = true false\n",
            "endpoint = 'literal'\n",
            "endpoint = \"\"\"multi\"\"\"\n",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    /// Lines of the flat shape and near misses of it.
    fn line() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("enabled".to_owned()),
            Just("decided_at".to_owned()),
            Just("decided_via".to_owned()),
            Just("consent_version".to_owned()),
            Just("notice_version".to_owned()),
            Just("endpoint".to_owned()),
            Just("flush_interval_secs".to_owned()),
            "[a-z_\"\\.-]{0,6}",
        ];
        let value = prop_oneof![
            2 => Just("true".to_owned()),
            1 => Just("false".to_owned()),
            2 => "[0-9_+-]{1,12}",
            4 => "\"[ -~\\t\\\\]{0,12}\"",
            1 => "'[a-z]{0,4}'",
            1 => "[ -~]{0,6}",
        ];
        let blank = "[ \\t]{0,2}";
        prop_oneof![
            8 => (blank, key, blank, blank, value, blank, "(# [ -~]{0,6})?").prop_map(
                |(a, k, b, c, v, d, comment)| format!("{a}{k}{b}={c}{v}{d}{comment}")
            ),
            1 => "#[ -~\\t]{0,10}",
            1 => "[ \\t]{0,3}",
            1 => "[ -~]{0,10}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn the_flat_reading_agrees_with_the_toml_parser(
            lines in proptest::collection::vec(line(), 0..4),
            crlf in any::<bool>(),
        ) {
            let text = lines.join(if crlf { "\r\n" } else { "\n" });
            if let Some(fast) = parse(&text) {
                prop_assert_eq!(Some(fast), by_toml(&text), "{:?}", text);
            }
        }
    }
}
