//! Admission limits in front of the per-machine rate limit: a global token
//! bucket for everyone together and one per source address. The machine id
//! is chosen by the client, so rotating it evades the per-machine limit;
//! these two do not depend on anything the client says. Over the limit the
//! server answers at once (503 with `Retry-After` when everyone together is
//! over, 429 when one source is) instead of letting every request slow
//! down, so a flood costs its sender the refusals and everyone else
//! nothing but a share of the budget.
//!
//! Sources are the keyed hashes from `crate::server::conn::Slots::source_key`,
//! never addresses. Their buckets are bounded: full (refilled) buckets are
//! swept out when a shard grows, and a shard still at its cap after a sweep
//! more than half full is cleared, which at worst forgives the sources hashed into it (the
//! global bucket still holds).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
/// Source buckets per shard at most (16 × 4,096 × ~40 B ≈ 2.6 MB).
pub(crate) const MAX_SOURCES_PER_SHARD: usize = 4096;

/// A token bucket: `rate` tokens a second, holding up to `burst`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    fn refilled(&self, rate: f64, burst: f64, now: Instant) -> f64 {
        (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate).min(burst)
    }

    /// Takes a token, or says how long until one is there (≥ 1 s).
    fn take(&mut self, rate: f64, burst: f64, now: Instant) -> Result<(), Duration> {
        self.tokens = self.refilled(rate, burst, now);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - self.tokens) / rate).ceil().max(1.0);
            Err(Duration::from_secs(wait as u64))
        }
    }
}

/// Why a request was not admitted, and when to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Everyone together is over the global limit (503).
    Busy(Duration),
    /// This source is over its limit (429).
    Source(Duration),
}

/// The admission limits.
#[derive(Debug)]
pub(crate) struct Admission {
    global_rate: f64,
    global: Mutex<Bucket>,
    source_rate: f64,
    sources: Vec<Mutex<HashMap<u64, Bucket>>>,
}

/// A bucket holds one second's worth, and never less than one token.
fn burst(rate: f64) -> f64 {
    rate.max(1.0)
}

impl Admission {
    /// Limits of `global` batches a second overall and `per_source` a second
    /// from one source; 0 turns either off.
    pub(crate) fn new(global: u32, per_source: u32) -> Admission {
        let now = Instant::now();
        let global_rate = f64::from(global);
        Admission {
            global_rate,
            global: Mutex::new(Bucket::full(burst(global_rate), now)),
            source_rate: f64::from(per_source),
            sources: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Admits one batch from `source` at `now`, or says why not.
    pub(crate) fn check(&self, source: u64, now: Instant) -> Result<(), Refusal> {
        if self.source_rate > 0.0 {
            let (rate, cap) = (self.source_rate, burst(self.source_rate));
            let mut shard = self.sources[(source as usize) % SHARDS]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if shard.len() >= MAX_SOURCES_PER_SHARD {
                shard.retain(|_, b| b.refilled(rate, cap, now) < cap);
                // More than half still draining: a flood of sources; start
                // over, so sweeps stay MAX / 2 inserts apart.
                if shard.len() > MAX_SOURCES_PER_SHARD / 2 {
                    shard.clear();
                }
            }
            shard
                .entry(source)
                .or_insert_with(|| Bucket::full(cap, now))
                .take(rate, cap, now)
                .map_err(Refusal::Source)?;
        }
        if self.global_rate > 0.0 {
            let (rate, cap) = (self.global_rate, burst(self.global_rate));
            self.global
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(rate, cap, now)
                .map_err(Refusal::Busy)?;
        }
        Ok(())
    }

    /// Source buckets held (for tests and the memory figures).
    #[cfg(test)]
    fn sources_held(&self) -> usize {
        self.sources.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_source_is_held_to_its_rate_and_everyone_to_the_global_one() {
        let a = Admission::new(10, 4);
        let t0 = Instant::now();
        for _ in 0..4 {
            a.check(1, t0).unwrap();
        }
        assert_eq!(a.check(1, t0), Err(Refusal::Source(Duration::from_secs(1))));
        for s in 2..8 {
            a.check(s, t0).unwrap();
        }
        // 4 + 6 = the global burst of 10.
        assert!(matches!(a.check(9, t0), Err(Refusal::Busy(_))));
        let later = t0 + Duration::from_secs(1);
        a.check(1, later).unwrap();
        let off = Admission::new(0, 0);
        for s in 0..1000 {
            off.check(s % 3, t0).unwrap();
        }
    }

    #[test]
    fn source_buckets_stay_bounded_under_a_flood_of_sources() {
        let a = Admission::new(0, 1);
        let t0 = Instant::now();
        for s in 0..(SHARDS * MAX_SOURCES_PER_SHARD * 4) as u64 {
            let _ = a.check(s, t0);
        }
        assert!(a.sources_held() <= SHARDS * MAX_SOURCES_PER_SHARD);
    }
}
