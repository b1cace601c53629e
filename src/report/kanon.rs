//! k-anonymity for the report: a row is shown only when at least k
//! distinct machines stand behind it over the whole window. Rows below k are
//! merged into one `other` row per table (so their totals still count), and
//! an `other` that is itself below k is withheld. Distinct machines are kept
//! as sets, not counts, because counts per day cannot be summed into
//! distinct machines over days.

use std::collections::HashSet;

/// Counts plus the machines behind them.
#[derive(Default)]
pub(crate) struct Agg {
    /// Summed count.
    pub(crate) count: u64,
    /// Distinct machines (store ids).
    pub(crate) machines: HashSet<i64>,
}

impl Agg {
    /// Adds `o` into this.
    pub(crate) fn merge(&mut self, o: Agg) {
        self.count = self.count.saturating_add(o.count);
        self.machines.extend(o.machines);
    }
}

/// Splits `rows` into those backed by at least `k` machines and one
/// `other` row merging the rest (and any row already labelled other).
/// Returns the rows to show (with `other` last, if it reaches `k` itself)
/// and how many rows were withheld because even their `other` did not.
pub(crate) fn fold<L: PartialEq, A>(
    rows: Vec<(L, A)>,
    k: usize,
    other_label: L,
    machines: impl Fn(&A) -> usize,
    merge: impl Fn(&mut A, A),
    empty: impl Fn() -> A,
) -> (Vec<(L, A)>, usize) {
    let mut kept = Vec::new();
    let mut other = empty();
    let mut folded = 0usize;
    for (label, agg) in rows {
        if machines(&agg) >= k && label != other_label {
            kept.push((label, agg));
        } else {
            folded += 1;
            merge(&mut other, agg);
        }
    }
    let mut withheld = 0;
    if folded > 0 {
        if machines(&other) >= k {
            kept.push((other_label, other));
        } else {
            withheld = folded;
        }
    }
    (kept, withheld)
}

/// [`fold`] for plain counts.
pub(crate) fn fold_agg<L: PartialEq>(
    rows: Vec<(L, Agg)>,
    k: usize,
    other: L,
) -> (Vec<(L, Agg)>, usize) {
    fold(
        rows,
        k,
        other,
        |a| a.machines.len(),
        Agg::merge,
        Agg::default,
    )
}
