//! The report's charts as inline SVG: no script, nothing fetched, so the
//! page draws the same offline, in a mail attachment and on paper.
//!
//! Colours are the Okabe–Ito palette, which stays distinguishable for the
//! common forms of colour blindness; every error kind also has its own
//! pattern (hatching, dots) and every chart its legend and numbers, so no
//! reading depends on colour alone. Hovering a mark shows its exact value
//! (an SVG `<title>`, no script needed).

use std::fmt::Write as _;

use crate::report::html::fmt::{count, esc, pct, share};

/// Okabe–Ito colours by role.
pub(crate) const BLUE: &str = "#0072B2";
pub(crate) const SKY: &str = "#56B4E9";
pub(crate) const GREEN: &str = "#009E73";
pub(crate) const GREY: &str = "#B8B8B8";

/// How one part of a stacked bar is painted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fill {
    /// The SVG `fill` value (a colour or a pattern reference).
    pub(crate) paint: &'static str,
    /// What the part means, for the legend.
    pub(crate) label: &'static str,
}

/// The patterns every chart refers to, defined once per page in an SVG of
/// no size (not `display: none`, which would switch the patterns off).
pub(crate) const DEFS: &str = r##"<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false"><defs>
<pattern id="p-fail" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#D55E00"/><rect width="2.2" height="6" fill="#fff" fill-opacity=".6"/></pattern>
<pattern id="p-dots" width="5" height="5" patternUnits="userSpaceOnUse"><rect width="5" height="5" fill="#E69F00"/><circle cx="2.5" cy="2.5" r="1.2" fill="#000" fill-opacity=".5"/></pattern>
<pattern id="p-back" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><rect width="6" height="6" fill="#CC79A7"/><rect width="2.2" height="6" fill="#000" fill-opacity=".35"/></pattern>
</defs></svg>"##;

/// Command outcomes, in `COMMAND_OUTCOMES` order.
pub(crate) const COMMAND_FILLS: [(&str, Fill); 5] = [
    (
        "success",
        Fill {
            paint: GREEN,
            label: "succeeded",
        },
    ),
    (
        "failure",
        Fill {
            paint: "url(#p-fail)",
            label: "failed",
        },
    ),
    (
        "usage_error",
        Fill {
            paint: "url(#p-dots)",
            label: "usage error",
        },
    ),
    (
        "interrupted",
        Fill {
            paint: "url(#p-back)",
            label: "interrupted",
        },
    ),
    (
        "unknown",
        Fill {
            paint: GREY,
            label: "not reported",
        },
    ),
];

/// MCP tool call outcomes, in `OUTCOMES` order.
pub(crate) const TOOL_FILLS: [(&str, Fill); 5] = [
    (
        "ok",
        Fill {
            paint: GREEN,
            label: "ok",
        },
    ),
    (
        "tool_error",
        Fill {
            paint: "url(#p-fail)",
            label: "tool error",
        },
    ),
    (
        "protocol_error",
        Fill {
            paint: "url(#p-dots)",
            label: "protocol error",
        },
    ),
    (
        "cancelled",
        Fill {
            paint: "url(#p-back)",
            label: "cancelled",
        },
    ),
    (
        "unanswered",
        Fill {
            paint: GREY,
            label: "unanswered",
        },
    ),
];

/// A legend for `fills`: swatch and words for each.
pub(crate) fn legend(fills: &[(&str, Fill)]) -> String {
    let mut s = String::from(r#"<p class="legend">"#);
    for (_, f) in fills {
        let _ = write!(
            s,
            r##"<span><svg width="14" height="14" aria-hidden="true"><rect width="14" height="14" fill="{}" stroke="#444" stroke-width=".5"/></svg>{}</span>"##,
            f.paint, f.label
        );
    }
    s.push_str("</p>");
    s
}

/// One bar split into the shares of `parts` (count, fill), 100 % wide.
pub(crate) fn stacked(parts: &[(u64, Fill)]) -> String {
    let total: u64 = parts.iter().fold(0, |s, (n, _)| s.saturating_add(*n));
    let summary: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, f)| format!("{} {}", f.label, pct(share(*n, total))))
        .collect();
    let mut s = format!(
        r##"<svg class="sb" width="100%" height="14" role="img" aria-label="{}"><rect width="100%" height="14" fill="#f1f1f1"/>"##,
        esc(&summary.join(", "))
    );
    let mut x = 0.0;
    for (n, f) in parts {
        if *n == 0 {
            continue;
        }
        let w = share(*n, total) * 100.0;
        let _ = write!(
            s,
            r#"<rect x="{x:.3}%" width="{w:.3}%" height="14" fill="{}"><title>{}: {} ({})</title></rect>"#,
            f.paint,
            f.label,
            count(*n),
            pct(share(*n, total))
        );
        x += w;
    }
    s.push_str("</svg>");
    s
}

/// A single horizontal bar, `value` of `max`, painted with `paint`.
pub(crate) fn hbar(value: u64, max: u64, paint: &str) -> String {
    let w = share(value, max.max(1)) * 100.0;
    format!(
        r#"<span class="hb"><svg width="100%" height="12" aria-hidden="true"><rect width="{w:.3}%" height="12" fill="{paint}"/></svg></span>"#
    )
}

/// The smallest "round" step (1, 2 or 5 times a power of ten) that splits
/// `max` into at most four intervals; and the axis top it gives.
fn axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let raw = max.div_ceil(4);
    let mut mag = 1u64;
    while mag.saturating_mul(10) <= raw {
        mag = mag.saturating_mul(10);
    }
    let step = [1, 2, 5, 10]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10 * mag);
    (step, max.div_ceil(step) * step)
}

/// Daily active machines: one bar per day of the window (`None`: no row
/// for the day, drawn as a gap), and the previous period day by day as a
/// dashed line. `labels` names each day on the axis (empty: no label).
pub(crate) fn daily(cur: &[Option<usize>], prev: &[Option<usize>], labels: &[String]) -> String {
    let (w, h) = (960.0, 230.0);
    let (ml, mr, mt, mb) = (44.0, 10.0, 12.0, 26.0);
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let n = cur.len().max(1);
    let top = cur.iter().chain(prev).flatten().copied().max().unwrap_or(0);
    let (step, ymax) = axis(top as u64);
    let y = |v: f64| mt + ph - v / ymax as f64 * ph;
    let slot = pw / n as f64;
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="Active machines per day, bars for this period, a dashed line for the previous one">"#
    );
    let mut t = 0;
    while t <= ymax {
        let yy = y(t as f64);
        let _ = write!(
            s,
            "<line x1=\"{ml}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" class=\"ax\" text-anchor=\"end\">{}</text>",
            w - mr,
            ml - 6.0,
            yy + 4.0,
            count(t)
        );
        t += step;
    }
    let bw = (slot * 0.7).max(1.0);
    for (i, v) in cur.iter().enumerate() {
        let cx = ml + slot * (i as f64 + 0.5);
        if let Some(v) = v {
            let top = y(*v as f64);
            let _ = write!(
                s,
                r#"<rect x="{:.2}" y="{top:.2}" width="{bw:.2}" height="{:.2}" fill="{BLUE}"><title>{}: {} machines</title></rect>"#,
                cx - bw / 2.0,
                mt + ph - top,
                esc(labels.get(i).map_or("", String::as_str)),
                v
            );
        }
        if let Some(l) = labels.get(i).filter(|l| !l.is_empty()) {
            let _ = write!(
                s,
                r#"<text x="{cx:.1}" y="{}" class="ax" text-anchor="middle">{}</text>"#,
                h - 8.0,
                esc(l)
            );
        }
    }
    let mut d = String::new();
    let mut pen_down = false;
    for (i, v) in prev.iter().enumerate().take(n) {
        match v {
            Some(v) => {
                let cx = ml + slot * (i as f64 + 0.5);
                let _ = write!(
                    d,
                    "{}{cx:.1} {:.1} ",
                    if pen_down { "L" } else { "M" },
                    y(*v as f64)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !d.is_empty() {
        let _ = write!(
            s,
            "<path d=\"{}\" fill=\"none\" stroke=\"#000\" stroke-opacity=\".7\" stroke-width=\"1.6\" stroke-dasharray=\"5 4\"/>",
            d.trim_end()
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{ml}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\"/></svg>",
        w - mr,
        mt + ph,
        mt + ph
    );
    s
}

/// A histogram over buckets: one column per bucket with its share above
/// and its label below, in `colour`.
pub(crate) fn histogram(counts: &[u64], labels: &[String], colour: &str, what: &str) -> String {
    let (w, h) = (480.0, 200.0);
    let (ml, mr, mt, mb) = (8.0, 8.0, 22.0, 26.0);
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let total: u64 = counts.iter().fold(0, |s, n| s.saturating_add(*n));
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let slot = pw / counts.len().max(1) as f64;
    let bw = slot * 0.72;
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}">"#,
        esc(what)
    );
    for (i, (n, label)) in counts.iter().zip(labels).enumerate() {
        let cx = ml + slot * (i as f64 + 0.5);
        let bh = share(*n, max) * ph;
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{bw:.1}" height="{bh:.1}" fill="{colour}"><title>{}: {} ({})</title></rect>"#,
            cx - bw / 2.0,
            mt + ph - bh,
            esc(label),
            count(*n),
            pct(share(*n, total))
        );
        let _ = write!(
            s,
            r#"<text x="{cx:.1}" y="{:.1}" class="val" text-anchor="middle">{}</text><text x="{cx:.1}" y="{}" class="ax" text-anchor="middle">{}</text>"#,
            mt + ph - bh - 5.0,
            pct(share(*n, total)),
            h - 8.0,
            esc(label)
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{ml}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\"/></svg>",
        w - mr,
        mt + ph,
        mt + ph
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_step_in_round_numbers() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(7), (2, 8));
        assert_eq!(axis(37), (10, 40));
        assert_eq!(axis(1234), (500, 1500));
    }

    #[test]
    fn a_stacked_bar_labels_each_part_and_skips_empty_ones() {
        let s = stacked(&[
            (3, COMMAND_FILLS[0].1),
            (0, COMMAND_FILLS[1].1),
            (1, COMMAND_FILLS[2].1),
        ]);
        assert!(
            s.contains("succeeded 75\u{a0}%, usage error 25\u{a0}%"),
            "{s}"
        );
        assert!(!s.contains("failed"), "{s}");
        assert_eq!(s.matches("<title>").count(), 2);
    }
}
