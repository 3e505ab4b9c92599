//! The native decoder's floor: every line of a stream file split, decoded and checked
//! (`read::decode`, no Python objects built), for comparing with msgspec's typed decode in
//! benchmarks/watch_replay.py.
//!
//!     cargo run --release --example decode_floor -- FILE

use std::time::Instant;

use _core::read::{blank, decode, Schema};

fn main() {
    let path = std::env::args().nth(1).expect("usage: decode_floor FILE");
    let started = Instant::now();
    let data = std::fs::read(&path).expect("a readable file");
    let (mut events, mut malformed) = (0u64, 0u64);
    for line in data.split(|b| *b == b'\n').filter(|line| !blank(line)) {
        match decode(line, Schema::Event) {
            Ok(_) => events += 1,
            Err(_) => malformed += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{:.0} events/s {seconds:.2} s ({events} events, {malformed} malformed)",
        (events + malformed) as f64 / seconds
    );
}
