//! Per-machine rate limiting for the ingest endpoint: a token bucket per
//! `machine_id` holding a minute's allowance, refilled continuously. A
//! well-behaved client sends a few batches a day, so the limit only bites a
//! broken or hostile one, and only that one: other machines have their own
//! buckets. Keyed by the random machine id from the (validated) envelope,
//! never by the peer address (that is [`crate::server::admission`]'s job).
//!
//! Bounded: forged ids each get a bucket, so a shard that reaches
//! `MAX_PER_SHARD` first sweeps out buckets that have refilled (they say
//! nothing a fresh one would not) and, if that leaves it more than half
//! full, starts over. At worst that forgives the machines in that shard;
//! the admission limits still hold. 16 shards × 4,096 buckets × ~48 bytes
//! is about 3 MB, however many ids are forged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Independent locks, so concurrent requests rarely wait on each other.
const SHARDS: usize = 16;

/// Buckets kept per shard at most.
pub(crate) const MAX_PER_SHARD: usize = 4096;

#[derive(Debug)]
struct Shard {
    buckets: HashMap<u128, Bucket>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by machine id.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    shards: Vec<Mutex<Shard>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per machine per minute
    /// (bursts up to that many); 0 turns limiting off.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        buckets: HashMap::new(),
                    })
                })
                .collect(),
        }
    }

    /// Takes one token for `machine` at `now`. `Err` carries how long until
    /// the next token (the `Retry-After`), at least one second.
    pub fn check(&self, machine: u128, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let cap = f64::from(self.per_minute);
        let per_sec = cap / 60.0;
        let shard = &self.shards[(machine as usize) % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        if shard.buckets.len() >= MAX_PER_SHARD {
            // A bucket that has refilled completely says nothing a fresh one
            // would not; dropping those bounds memory.
            shard.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < cap
            });
            // Still more than half full: a flood of fresh ids. Starting
            // over keeps the next sweep MAX_PER_SHARD / 2 inserts away, so
            // the cost stays amortised O(1).
            if shard.buckets.len() > MAX_PER_SHARD / 2 {
                shard.buckets.clear();
            }
        }
        let b = shard.buckets.entry(machine).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * per_sec;
        b.tokens = (b.tokens + refill).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / per_sec).ceil().max(1.0);
            Err(Duration::from_secs(wait as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_gets_its_allowance_then_waits_and_others_are_unaffected() {
        let rl = RateLimiter::new(6);
        let t0 = Instant::now();
        for _ in 0..6 {
            assert!(rl.check(1, t0).is_ok());
        }
        let wait = rl.check(1, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        assert!(
            rl.check(2, t0).is_ok(),
            "another machine has its own bucket"
        );
        assert!(rl.check(1, t0 + Duration::from_secs(10)).is_ok());
        assert!(rl.check(1, t0 + Duration::from_secs(10)).is_err());
    }

    fn held(rl: &RateLimiter) -> usize {
        rl.shards
            .iter()
            .map(|s| s.lock().unwrap().buckets.len())
            .sum()
    }

    #[test]
    fn zero_means_unlimited_and_forged_ids_cannot_grow_the_map() {
        let rl = RateLimiter::new(0);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(rl.check(7, t0).is_ok());
        }
        let rl = RateLimiter::new(6);
        // 1.5 million forged ids within one second.
        for m in 0..1_500_000u128 {
            rl.check(m.wrapping_mul(0x9E37_79B9_7F4A_7C15), t0).unwrap();
        }
        assert!(held(&rl) <= SHARDS * MAX_PER_SHARD, "{}", held(&rl));
        // Buckets that have refilled are swept out when a shard fills.
        let rl = RateLimiter::new(6);
        for m in 0..MAX_PER_SHARD as u128 {
            rl.check(m * SHARDS as u128, t0).unwrap();
        }
        assert_eq!(held(&rl), MAX_PER_SHARD);
        let later = t0 + Duration::from_secs(120);
        rl.check(MAX_PER_SHARD as u128 * SHARDS as u128, later)
            .unwrap();
        assert_eq!(held(&rl), 1, "refilled buckets were swept");
    }
}
