//! Event ids and the stream's time format, made once per millisecond.
//!
//! An id is a UUIDv7 (RFC 9562): the 48-bit millisecond time, then 74 bits that are random
//! per process plus a counter (the RFC's "monotonic random" method), so ids are unique
//! across processes, time-ordered, and cost a counter increment on the hot path. A forked
//! child must not repeat its parent's ids: Python calls `reseed` after every fork.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::engine::time::iso;

const MASK62: u64 = (1 << 62) - 1;

struct Seed {
    rand_a: u64, // 12 bits
    rand_b: u64, // 62 bits
}

static SEED: Mutex<Option<Seed>> = Mutex::new(None);
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// New random bits for this process (at start and in a forked child).
pub fn reseed() {
    // getrandom fails only where the OS has no entropy source at all; the clock still
    // separates processes then, which beats refusing to record
    let bits = |fallback: u64| getrandom::u64().unwrap_or(fallback);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed = Seed {
        rand_a: bits(nanos) & 0xfff,
        rand_b: bits(nanos.rotate_left(17) ^ u64::from(std::process::id())) & MASK62,
    };
    *SEED.lock().unwrap_or_else(|p| p.into_inner()) = Some(seed);
    COUNTER.store(0, Ordering::Relaxed);
}

fn seed() -> (u64, u64) {
    if let Some(seed) = &*SEED.lock().unwrap_or_else(|p| p.into_inner()) {
        return (seed.rand_a, seed.rand_b);
    }
    reseed();
    seed()
}

/// The UUIDv7 of an event recorded at epoch seconds `t`.
pub fn event_id(t: f64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let ms = (t * 1000.0) as u64 & 0xffff_ffff_ffff; // as Python's int(t * 1000)
    let (rand_a, rand_b) = seed();
    let tail = 0x8000_0000_0000_0000
        | (rand_b.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed)) & MASK62);
    let id = u128::from(ms) << 80 | 0x7 << 76 | u128::from(rand_a) << 64 | u128::from(tail);
    let mut text = [b'-'; 36];
    let mut shift = 128;
    for (i, byte) in text.iter_mut().enumerate() {
        if !matches!(i, 8 | 13 | 18 | 23) {
            shift -= 4;
            *byte = HEX[(id >> shift) as usize & 0xf];
        }
    }
    String::from_utf8_lossy(&text).into_owned() // hex digits and hyphens: never lossy
}

/// `now_iso(t)`, the last millisecond remembered (a burst of events shares it).
#[derive(Default)]
pub struct Clock {
    last: Option<(i64, String)>,
}

impl Clock {
    pub fn iso(&mut self, t: f64) -> &str {
        let ms = (t * 1000.0).round_ties_even() as i64;
        if self.last.as_ref().map(|(m, _)| *m) != Some(ms) {
            self.last = Some((ms, iso(t)));
        }
        &self.last.as_ref().expect("set just above").1
    }
}

/// Seconds since the epoch, as Python's `time.time()`.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_time_ordered_and_distinct() {
        reseed();
        let a = event_id(1_767_225_600.123);
        let b = event_id(1_767_225_600.123);
        let c = event_id(1_767_225_600.124);
        assert_ne!(a, b);
        assert!(a[..13] < c[..13]);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(&a[..13], "019b76da-a87b"); // 1767225600123 ms
    }

    #[test]
    fn a_burst_shares_one_time_text() {
        let mut clock = Clock::default();
        assert_eq!(clock.iso(0.0004), "1970-01-01T00:00:00.000Z");
        assert_eq!(clock.iso(1.0), "1970-01-01T00:00:01.000Z");
    }
}
