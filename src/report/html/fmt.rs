//! Text for people and for HTML: every string that came from the store is
//! escaped here before it reaches the page (names come from clients, and a
//! store filled by another version or another backend may hold anything),
//! and numbers are shortened the way people read them (1.2k, 34 %).

use std::borrow::Cow;

/// Escapes `s` for HTML text and attribute values (double- or
/// single-quoted): `&`, `<`, `>`, `"` and `'`.
pub(crate) fn esc(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A count as people read it: `999`, `1.2k`, `34k`, `1.2M`, `5.6G`.
pub(crate) fn count(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "T"),
        (1_000_000_000, "G"),
        (1_000_000, "M"),
        (1_000, "k"),
    ];
    for (i, (unit, suffix)) in UNITS.iter().enumerate() {
        if n >= *unit {
            let x = n as f64 / *unit as f64;
            // 999.96k rounds to "1000k": say 1.0M instead.
            if x >= 999.95 && i > 0 {
                return format!("1.0{}", UNITS[i - 1].1);
            }
            return if x >= 99.95 {
                format!("{x:.0}{suffix}")
            } else {
                format!("{x:.1}{suffix}")
            };
        }
    }
    n.to_string()
}

/// A share as a percentage, with a no-break space before the sign:
/// `0 %`, `<0.1 %`, `2.3 %`, `34 %`, `100 %`.
pub(crate) fn pct(x: f64) -> String {
    let p = x * 100.0;
    let num = if p <= 0.0 {
        "0".to_owned()
    } else if p < 0.05 {
        "<0.1".to_owned()
    } else if p < 9.95 {
        format!("{p:.1}")
    } else {
        format!("{p:.0}")
    };
    format!("{num}\u{a0}%")
}

/// `part / whole`, 0 when there is no whole.
pub(crate) fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Whether a rise is good, bad or neither, for the colour and the words of
/// a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Better {
    Up,
    Down,
    /// Neither way is good or bad in itself (runs of one command).
    Neither,
}

/// A change between two counts: the text (`▲ 12 %`, `▼ 3 %`, `new`,
/// `no change`) and a CSS class (`good`, `bad`, `flat`).
pub(crate) fn change_count(now: u64, before: u64, better: Better) -> (String, &'static str) {
    if now == before {
        return ("no change".to_owned(), "flat");
    }
    if before == 0 {
        return ("new".to_owned(), class(true, better));
    }
    let up = now > before;
    let rel = (now as f64 - before as f64).abs() / before as f64;
    let arrow = if up { '▲' } else { '▼' };
    (format!("{arrow}\u{a0}{}", pct(rel)), class(up, better))
}

/// A change between two shares, in percentage points (`▲ 1.2 pt`).
pub(crate) fn change_rate(now: f64, before: f64, better: Better) -> (String, &'static str) {
    let d = (now - before) * 100.0;
    if d.abs() < 0.05 {
        return ("no change".to_owned(), "flat");
    }
    let up = d > 0.0;
    let arrow = if up { '▲' } else { '▼' };
    let n = d.abs();
    let num = if n < 9.95 {
        format!("{n:.1}")
    } else {
        format!("{n:.0}")
    };
    (format!("{arrow}\u{a0}{num}\u{a0}pt"), class(up, better))
}

fn class(up: bool, better: Better) -> &'static str {
    if better == Better::Neither {
        "flat"
    } else if up == (better == Better::Up) {
        "good"
    } else {
        "bad"
    }
}

/// The bucket below which half (`q` = 0.5) or 90 % (`q` = 0.9) of `counts`
/// fall, as its label; `None` when nothing was counted.
pub(crate) fn quantile_label<'a>(counts: &[u64], labels: &'a [String], q: f64) -> Option<&'a str> {
    let total: u64 = counts.iter().fold(0, |s, n| s.saturating_add(*n));
    if total == 0 {
        return None;
    }
    let want = (total as f64 * q).ceil().max(1.0) as u64;
    let mut seen = 0u64;
    for (n, label) in counts.iter().zip(labels) {
        seen = seen.saturating_add(*n);
        if seen >= want {
            return Some(label.as_str());
        }
    }
    labels.last().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_from_the_store_come_out_inert() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert!(matches!(esc("build"), Cow::Borrowed(_)));
    }

    #[test]
    fn counts_and_shares_read_like_people_write_them() {
        let c: Vec<String> = [0, 999, 1_000, 1_234, 12_345, 123_456, 999_999, 1_260_000]
            .into_iter()
            .map(count)
            .collect();
        assert_eq!(
            c,
            ["0", "999", "1.0k", "1.2k", "12.3k", "123k", "1.0M", "1.3M"]
        );
        assert_eq!(pct(0.0), "0\u{a0}%");
        assert_eq!(pct(0.0004), "<0.1\u{a0}%");
        assert_eq!(pct(0.023), "2.3\u{a0}%");
        assert_eq!(pct(0.34), "34\u{a0}%");
        assert_eq!(pct(1.0), "100\u{a0}%");
    }

    #[test]
    fn changes_say_which_way_and_whether_that_is_good() {
        assert_eq!(
            change_count(112, 100, Better::Up),
            ("▲\u{a0}12\u{a0}%".to_owned(), "good")
        );
        assert_eq!(change_count(5, 0, Better::Up).0, "new");
        assert_eq!(change_count(7, 7, Better::Up).1, "flat");
        assert_eq!(
            change_rate(0.05, 0.02, Better::Down),
            ("▲\u{a0}3.0\u{a0}pt".to_owned(), "bad")
        );
    }

    #[test]
    fn the_median_bucket_is_where_half_the_counts_are_reached() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(quantile_label(&[1, 1, 8], &labels, 0.5), Some("c"));
        assert_eq!(quantile_label(&[5, 5, 0], &labels, 0.5), Some("a"));
        assert_eq!(quantile_label(&[5, 5, 0], &labels, 0.9), Some("b"));
        assert_eq!(quantile_label(&[0, 0, 0], &labels, 0.5), None);
    }
}
