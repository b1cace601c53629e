//! A TOML file read without a TOML parser when it has the shape tally
//! writes its consent file in: comments, blank lines and `key = value`
//! lines whose values are booleans, plain whole numbers or strings without
//! escapes. Every run that records reads that file, and the TOML parser
//! costs such a run more than the rest of resolving consent; a file with
//! any line of another shape (a table, an escape, a float, a repeated key)
//! is left to the TOML parser, which also words the error. The consent
//! file's tests check the two agree (`config_tests.rs`).

/// One value of a flat line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flat<'a> {
    /// `true` / `false`.
    Bool(bool),
    /// A decimal whole number without sign, underscores or leading zeros.
    Int(i64),
    /// A basic string without escapes.
    Str(&'a str),
}

/// The `key = value` pairs of `text`, in order, when every line has the
/// flat shape and no key repeats; `None` leaves the text to the TOML
/// parser.
pub fn pairs(text: &str) -> Option<Vec<(&str, Flat<'_>)>> {
    let mut out: Vec<(&str, Flat<'_>)> = Vec::new();
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
        if out.iter().any(|(k, _)| *k == key) {
            return None;
        }
        out.push((key, value));
    }
    Some(out)
}

/// A comment TOML accepts: no control character but tab.
fn is_comment(line: &str) -> bool {
    // By bytes, not chars (every run that records reads the consent
    // file's two comment lines): `char::is_control` is U+0000–U+001F and
    // U+007F–U+009F, and in UTF-8 the last are 0xC2 then 0x80–0x9F (0xC2
    // is only ever a lead byte).
    let b = line.as_bytes();
    !b.iter().enumerate().any(|(i, &c)| {
        (c < 0x20 && c != b'\t')
            || c == 0x7f
            || (c == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
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

    #[test]
    fn a_comment_by_bytes_is_a_comment_by_chars() {
        let by_chars = |line: &str| !line.chars().any(|c| c.is_control() && c != '\t');
        let chars = (0..0x800u32)
            .chain([0xfeff, 0x2028, 0x1_f600])
            .filter_map(char::from_u32);
        for c in chars {
            for line in [
                format!("# a{c}b"),
                format!("#{c}"),
                format!("# \u{a0}{c}\u{c2}"),
            ] {
                assert_eq!(is_comment(&line), by_chars(&line), "{line:?}");
            }
        }
    }
}
