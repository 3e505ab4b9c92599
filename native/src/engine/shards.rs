//! The engine's state split by attempt into SHARDS shards, each a `Core` of its own.
//!
//! Every event of an attempt reaches the same shard, in the order read, and a shard judges
//! its attempts exactly as a single engine would: no detector looks across attempts. So the
//! shards of a large batch can run on several cores at once, each reading the whole batch
//! and taking only its own lines, with no event handed from one core to another (measured:
//! decoding on one core and judging on another cost more than the second core saved).
//!
//! What spans the shards is kept global: the order attempts became active (an ordinal shared
//! by all, so a tick checks them and a snapshot lists them as one engine would), the alerts
//! (merged in line order), the counters (summed). SHARDS is a constant, not the machine's
//! core count, so the caps each shard holds (a share of MAX_ENDED and MAX_PARKED) and so the
//! alerts are the same on every machine and for any number of threads.

use std::sync::{Arc, Mutex, PoisonError};

use memchr::memmem::Finder;

use super::core::{Core, Host, Raised, ReadAt, Snapshot, SnapshotOf, State, MAX_ENDED, MAX_PARKED};
use super::line::{self, Event, Line};

pub const SHARDS: usize = 8;
const SWEEP_EVERY: u64 = 1 << 16; // lines between two looks for attempts to park
/// Fewer lines than this are read on the calling thread: starting threads would cost more.
pub const PARALLEL_LINES: usize = 1024;

/// The shard of an attempt (a fixed hash: the same on every machine and run).
pub fn shard_of(attempt_id: &str) -> usize {
    crc32fast::hash(attempt_id.as_bytes()) as usize % SHARDS
}

/// Whose a decoded line is: its attempt's shard; the first shard counts the lines that
/// name no attempt (malformed, blank, or without an attempt id).
fn owner(decoded: &Line, event: &Event) -> usize {
    match decoded {
        Line::Event => event
            .attempt_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .map_or(0, shard_of),
        _ => 0,
    }
}

/// Finds a line's shard from its raw bytes when they can be read only one way, so that a
/// core skips the lines of other shards without decoding them.
///
/// The line must hold the bytes `"attempt_id"` once, at once followed by `:"` and a string
/// with no backslash, and no `\u` or NUL anywhere. Without a `\u` escape no other spelling of the key
/// exists (the other escapes make no letter), so an event's `attempt_id`, if it has one, is
/// that string; a line with none goes to that shard all the same, which counts it. Any other
/// line (the key twice, spaced, escaped, not a string) is decoded first, by every core.
struct Quick {
    key: Finder<'static>,
    unicode: Finder<'static>,
}

impl Quick {
    fn new() -> Quick {
        Quick {
            key: Finder::new(b"\"attempt_id\""),
            unicode: Finder::new(b"\\u"),
        }
    }

    fn shard(&self, line: &[u8]) -> Option<usize> {
        let mut found = self.key.find_iter(line);
        let at = found.next()? + b"\"attempt_id\"".len();
        if found.next().is_some() {
            return None;
        }
        let value = line.get(at..)?.strip_prefix(b":\"")?;
        let end = memchr::memchr2(b'"', b'\\', value)?;
        // a `\u` may spell the key another way, and a line with NULs is read after the last
        // (read::after_padding): both decoded by every core
        let escaped_or_padded = memchr::memchr2(b'\\', 0, line).is_some()
            && (memchr::memchr(0, line).is_some() || self.unicode.find(line).is_some());
        if value[end] != b'"' || escaped_or_padded {
            return None;
        }
        Some(shard_of(std::str::from_utf8(&value[..end]).ok()?))
    }
}

/// What a batch gave: its alerts in line order, and its malformed lines (index, why).
pub type Fed = (Vec<Raised>, Vec<(usize, String)>);
/// One thread's share of a batch: its alerts with the index of their line, its malformed lines.
type Share = (Vec<(usize, Raised)>, Vec<(usize, String)>);

pub struct Shards {
    pub cores: Vec<Core>,
    ordinal: u64, // lines read and attempts re-activated so far: the orders of attempts
    sweep_every: u64,
    next_sweep: u64, // the ordinal of the next look for attempts to park
}

impl Shards {
    pub fn new(make: impl Fn() -> Result<Core, String>) -> Result<Shards, String> {
        let mut cores = Vec::with_capacity(SHARDS);
        for _ in 0..SHARDS {
            let mut core = make()?;
            core.state.max_ended = MAX_ENDED / SHARDS;
            core.state.max_parked = MAX_PARKED / SHARDS;
            cores.push(core);
        }
        Ok(Shards {
            cores,
            ordinal: 0,
            sweep_every: SWEEP_EVERY,
            next_sweep: SWEEP_EVERY,
        })
    }

    pub fn read_at(&self, now: Option<f64>) -> ReadAt {
        self.cores[0].read_at(now)
    }

    /// A batch on this thread, line after line.
    pub fn feed(&mut self, lines: &[&[u8]], read: ReadAt, host: &mut dyn Host) -> Fed {
        let base = self.begin(lines);
        let all = self.cores.iter_mut().collect();
        let (raised, bad) = judge_own(0, 1, all, lines, base, read, host);
        self.maybe_sweep(host);
        (raised.into_iter().map(|(_, r)| r).collect(), bad)
    }

    /// A batch on `hosts.len()` threads, each running the shards `t`, `t + threads`, ... over
    /// the whole batch. A host may be called for different attempts in another order than
    /// the lines (fine for detectors that keep nothing across attempts); what each host met
    /// (an error) stays in it.
    pub fn feed_parallel<H: Host + Send>(
        &mut self,
        lines: &[&[u8]],
        read: ReadAt,
        hosts: &mut [H],
    ) -> Fed {
        let base = self.begin(lines);
        let threads = hosts.len();
        let mut groups: Vec<Vec<&mut Core>> = (0..threads).map(|_| Vec::new()).collect();
        for (shard, core) in self.cores.iter_mut().enumerate() {
            groups[shard % threads].push(core);
        }
        // the first group on this thread (it stays on its core, and so do its shards' state),
        // the others on the pool's threads, which live on from batch to batch
        let mut work = groups.into_iter().zip(hosts.iter_mut()).enumerate();
        let (_, (first, host)) = work.next().expect("one thread at least");
        let mut shares: Vec<Share> = (1..threads).map(|_| Share::default()).collect();
        let mine = pool(threads).in_place_scope(|scope| {
            for ((t, (mine, host)), share) in work.zip(shares.iter_mut()) {
                scope.spawn(move |_| *share = judge_own(t, threads, mine, lines, base, read, host));
            }
            judge_own(0, threads, first, lines, base, read, host)
        });
        let results = std::iter::once(mine).chain(shares);
        let (mut raised, mut bad) = (Vec::new(), Vec::new());
        for (r, b) in results {
            raised.extend(r);
            bad.extend(b);
        }
        self.maybe_sweep(&mut hosts[0]);
        raised.sort_by_key(|(index, _)| *index); // stable: a line's alerts keep their order
        bad.sort_unstable_by_key(|(index, _)| *index);
        (raised.into_iter().map(|(_, r)| r).collect(), bad)
    }

    /// After a batch: now and then, park the attempts of every shard quiet for long.
    fn maybe_sweep(&mut self, host: &mut dyn Host) {
        if self.ordinal >= self.next_sweep {
            self.next_sweep = self.ordinal + self.sweep_every;
            let clock = self.clock();
            for core in &mut self.cores {
                core.sweep(clock, host);
            }
        }
    }

    /// Lines between two looks for attempts to park.
    pub fn sweep_every(&self) -> u64 {
        self.sweep_every
    }

    pub fn set_sweep_every(&mut self, lines: u64) {
        self.sweep_every = lines.max(1);
        self.next_sweep = self.ordinal + self.sweep_every;
    }

    /// The ordinal before a batch's first line (the batch takes one per line).
    fn begin(&mut self, lines: &[&[u8]]) -> u64 {
        let base = self.ordinal;
        self.ordinal += lines.len() as u64;
        base
    }

    /// The caller has read everything there is: check the open attempts against the wall
    /// clock `now`, all shards' in the one order they became active.
    pub fn tick(&mut self, now: f64, host: &mut dyn Host) -> Vec<Raised> {
        for core in &mut self.cores {
            core.caught_up(now, &mut self.ordinal);
        }
        let mut out = Vec::new();
        for (_, shard, attempt_id) in self.active_in_order() {
            self.cores[shard].tick(&attempt_id, now, host, &mut out);
        }
        out
    }

    /// The active attempts of all shards (order, shard, id), in the order they became active.
    pub fn active_in_order(&self) -> Vec<(u64, usize, String)> {
        let mut all: Vec<(u64, usize, String)> = self
            .cores
            .iter()
            .enumerate()
            .flat_map(|(shard, core)| {
                let active = core.active_in_order().into_iter();
                active.map(move |(order, id)| (order, shard, id))
            })
            .collect();
        all.sort_unstable();
        all
    }

    pub fn of(&self, attempt_id: &str) -> &Core {
        &self.cores[shard_of(attempt_id)]
    }

    pub fn of_mut(&mut self, attempt_id: &str) -> &mut Core {
        &mut self.cores[shard_of(attempt_id)]
    }

    /// The events read (lines that were events, whatever became of them).
    pub fn events(&self) -> u64 {
        self.sum(|state| state.events)
    }

    /// A counter over all shards.
    pub fn sum(&self, count: impl Fn(&State) -> u64) -> u64 {
        self.cores.iter().map(|core| count(&core.state)).sum()
    }

    /// The latest event time seen.
    pub fn clock(&self) -> f64 {
        self.cores.iter().map(|c| c.state.clock).fold(0.0, f64::max)
    }

    /// Changes a setting of every shard.
    pub fn set(&mut self, change: impl Fn(&mut State)) {
        self.cores
            .iter_mut()
            .for_each(|core| change(&mut core.state));
    }

    /// One snapshot, as one engine would write it (active attempts in their one order).
    pub fn snapshot(&self) -> SnapshotOf<'_> {
        let mut merged = SnapshotOf::default();
        let mut active = Vec::new();
        for core in &self.cores {
            let (part, orders) = core.snapshot();
            merged.clock = merged.clock.max(part.clock);
            active.extend(orders.into_iter().zip(part.active));
            merged.parked.extend(part.parked);
            merged.unjudged.extend(part.unjudged);
            merged.ended.extend(part.ended);
            merged.remembered.extend(part.remembered);
        }
        active.sort_unstable_by_key(|(order, _)| *order);
        merged.active = active.into_iter().map(|(_, attempt)| attempt).collect();
        merged.unjudged.sort_unstable();
        merged
    }

    /// Continue from a snapshot (of any number of shards: each attempt goes to its own).
    pub fn restore(&mut self, snapshot: Snapshot) {
        let mut parts: Vec<(Snapshot, Vec<u64>)> = (0..SHARDS)
            .map(|_| {
                let part = Snapshot {
                    clock: snapshot.clock,
                    ..Snapshot::default()
                };
                (part, Vec::new())
            })
            .collect();
        for (id, attempt) in snapshot.active {
            self.ordinal += 1;
            let (part, orders) = &mut parts[shard_of(&id)];
            part.active.push((id, attempt));
            orders.push(self.ordinal);
        }
        for (id, blob) in snapshot.parked {
            parts[shard_of(&id)].0.parked.push((id, blob));
        }
        for id in snapshot.unjudged {
            parts[shard_of(&id)].0.unjudged.push(id);
        }
        for (id, attempt) in snapshot.ended {
            parts[shard_of(&id)].0.ended.push((id, attempt));
        }
        for (id, cooldowns) in snapshot.remembered {
            parts[shard_of(&id)].0.remembered.push((id, cooldowns));
        }
        for (core, (part, orders)) in self.cores.iter_mut().zip(parts) {
            core.restore(part, &orders);
        }
    }
}

/// The threads that judge a batch beside the caller's, started once (a thread started per
/// batch cost more than some batches' judging). A forked child has none of its parent's
/// threads: it starts its own pool, and leaves the parent's alone (dropping it would wake
/// threads that do not exist, through locks that may have been held at the fork).
fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    static POOL: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>> = Mutex::new(None);
    let mut held = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    if let Some((owner, pool)) = &*held {
        if *owner == pid {
            return pool.clone();
        }
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads - 1)
            .thread_name(|_| "agentlog-judge".into())
            .build()
            .expect("a thread pool"),
    );
    if let Some(parents) = held.replace((pid, pool.clone())) {
        std::mem::forget(parents);
    }
    pool
}

/// One thread's share of a batch: every line read, those of its shards (`mine`: the shards
/// `t`, `t + threads`, ...) judged; its alerts tagged with their line's index. The proptest
/// below checks that a line goes to the same shard whichever way it is found.
fn judge_own(
    t: usize,
    threads: usize,
    mut mine: Vec<&mut Core>,
    lines: &[&[u8]],
    base: u64,
    read: ReadAt,
    host: &mut dyn Host,
) -> Share {
    let quick = Quick::new();
    let (mut raised, mut bad, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for (index, line) in lines.iter().enumerate() {
        // alone, a thread decodes every line anyway: no quick read
        let quick_shard = if threads > 1 { quick.shard(line) } else { None };
        if quick_shard.is_some_and(|shard| shard % threads != t) {
            continue;
        }
        let (mut scratch, mut event) = (None, Event::default());
        let decoded = line::decode(line, &mut scratch, &mut event);
        let shard = match quick_shard {
            Some(shard) => shard,
            None => match owner(&decoded, &event) {
                shard if shard % threads != t => continue,
                shard => shard,
            },
        };
        let ordinal = base + index as u64 + 1;
        let core = &mut mine[shard / threads];
        match decoded {
            Line::Event => core.event(&event, line, ordinal, read, host, &mut out),
            Line::Blank => {}
            Line::Malformed(why) => {
                core.malformed();
                bad.push((index, why));
            }
        }
        raised.extend(out.drain(..).map(|r| (index, r)));
        if host.failed() {
            break;
        }
    }
    (raised, bad)
}

#[cfg(test)]
mod tests {
    use super::super::alert::Finding;
    use super::super::core::Attempt;
    use super::super::detectors::{self, Oracle, NATIVE};
    use super::*;
    use proptest::prelude::*;

    /// A host with no Python: a message is its own fingerprint.
    struct Plain;

    impl Oracle for Plain {
        fn derive(&mut self, message: &str) -> Option<(String, String)> {
            Some((message.chars().take(8).collect(), "other".into()))
        }
        fn transient(&mut self, category: &str, _: &str) -> bool {
            category == "rate_limit"
        }
    }

    impl Host for Plain {
        fn odd_time(&mut self, _: &str) -> Option<f64> {
            None
        }
        fn on_event(
            &mut self,
            _: usize,
            _: &str,
            _: &mut Attempt,
            _: &[u8],
            _: f64,
        ) -> Option<Finding> {
            None
        }
        fn on_clock(&mut self, _: usize, _: &str, _: &mut Attempt, _: f64) -> Option<Finding> {
            None
        }
        fn ended(&mut self, _: &str) -> bool {
            false
        }
        fn forget(&mut self, _: &str) {}
        fn failed(&self) -> bool {
            false
        }
    }

    fn shards() -> Shards {
        let config = detectors::Config {
            error_loop_threshold: 3,
            error_loop_window_ms: 600_000,
            tool_loop_threshold: 4,
            tool_loop_window_ms: 60_000,
            tool_repeat_threshold: 3,
            stuck_threshold_ms: 60_000,
            waiting_statuses: vec!["waiting".into()],
            cost_anomaly_threshold: 1.0,
            cost_threshold_is_int: true,
            restart_threshold: 2,
            failed_session_errors: 2,
        };
        let names: Vec<String> = NATIVE.iter().map(|n| n.to_string()).collect();
        let mut shards =
            Shards::new(|| Core::new(config.clone(), &names, Vec::new(), 300_000.0, 300_000.0))
                .unwrap();
        shards.set_sweep_every(7); // park and unpack all along
        shards
    }

    /// A line of attempt `who` in one of the shapes real and hostile writers produce.
    fn line(shape: u8, who: &str, kind: &str, second: u32, data: &str) -> String {
        let t = format!(
            "\"timestamp\":\"2026-01-01T00:{:02}:{:02}.000Z\"",
            second / 60 % 60,
            second % 60
        );
        let rest = format!("\"event_type\":\"{kind}\",{t},\"data\":{data}");
        match shape {
            0 => format!("{{\"attempt_id\":\"{who}\",{rest}}}"),
            1 => format!("{{\"attempt_id\" : \"{who}\",{rest}}}"),
            2 => format!("{{\"attempt\\u005fid\":\"{who}\",{rest}}}"),
            3 => {
                format!("{{\"meta\":{{\"attempt_id\":\"decoy\"}},\"attempt_id\":\"{who}\",{rest}}}")
            }
            4 => format!("{{\"meta\":{{\"attempt_id\":\"{who}\"}},{rest}}}"), // no attempt of its own
            5 => format!("{{\"note\":\"x\\\"attempt_id\",\"attempt_id\":\"{who}\",{rest}}}"),
            6 => format!("{{\"attempt_id\":\"{who}\",{rest}"), // cut short
            7 => String::new(),
            8 => format!(
                "{{\"meta\":{{\"attempt_id\":\"decoy\"}},\"attempt\\u005fid\":\"{who}\",{rest}}}"
            ),
            _ => format!("{{\"attempt_id\":\"{who}\",\"attempt_id\":\"{who}\",{rest}}}"),
        }
    }

    fn stream() -> impl Strategy<Value = Vec<String>> {
        let who = prop::sample::select(vec!["a", "b", "c", "d", "e\u{e9}", "f\\\"g"]);
        let event = prop::sample::select(vec![
            (
                "tool_call",
                r#"{"tool_name":"bash","tool_params":{"cmd":"ls"}}"#,
            ),
            (
                "error",
                r#"{"error_message":"boom 1","error_fingerprint":"fp"}"#,
            ),
            ("error", r#"{"error_message":"429 too many"}"#),
            ("usage", r#"{"cost_usd":0.6}"#),
            ("session_start", r#"{"prompt_type":"retry"}"#),
            ("session_end", r#"{"completion_status":"failed"}"#),
            ("status_change", r#"{"status":"waiting"}"#),
        ]);
        let shape = prop_oneof![6 => Just(0u8), 1 => 1u8..10];
        prop::collection::vec((shape, who, event, 0u32..200), 0..400).prop_map(|picked| {
            let mut second = 0;
            picked
                .into_iter()
                .map(|(shape, who, (kind, data), gap)| {
                    second += gap;
                    line(shape, who, kind, second, data)
                })
                .collect()
        })
    }

    /// Alerts, malformed lines, counters (events, malformed, ignored), the state to save.
    type Seen = (Vec<String>, Vec<(usize, String)>, [u64; 3], String);

    /// Everything a run shows (one thread: every line decoded to find its shard): alerts in order, malformed lines, counters, the state to save.
    fn run(lines: &[String], threads: usize, batch: usize) -> Seen {
        let mut shards = shards();
        let (mut alerts, mut bad) = (Vec::new(), Vec::new());
        for (n, part) in lines.chunks(batch.max(1)).enumerate() {
            let part: Vec<&[u8]> = part.iter().map(|l| l.as_bytes()).collect();
            let read = shards.read_at(Some(1_767_232_800.0));
            let (raised, b) = if threads == 1 {
                shards.feed(&part, read, &mut Plain)
            } else {
                let mut hosts: Vec<Plain> = (0..threads).map(|_| Plain).collect();
                shards.feed_parallel(&part, read, &mut hosts)
            };
            alerts.extend(
                raised
                    .into_iter()
                    .map(|r| format!("{} {}", r.attempt_id, r.alert_id)),
            );
            bad.extend(b.into_iter().map(|(i, why)| (n * batch + i, why)));
        }
        alerts.extend(
            shards
                .tick(1_767_232_800.0, &mut Plain)
                .into_iter()
                .map(|r| format!("{} {}", r.attempt_id, r.alert_id)),
        );
        let counts = [
            shards.events(),
            shards.sum(|s| s.malformed),
            shards.sum(|s| s.ignored),
        ];
        (
            alerts,
            bad,
            counts,
            serde_json::to_string(&shards.snapshot()).unwrap(),
        )
    }

    #[test]
    fn quick_reads_a_plain_line_and_leaves_the_others() {
        let quick = Quick::new();
        assert_eq!(
            quick.shard(line(0, "a", "usage", 1, "{}").as_bytes()),
            Some(shard_of("a"))
        );
        for shape in 1..10 {
            let read = quick.shard(line(shape, "a", "usage", 1, "{}").as_bytes());
            assert!(
                read.is_none() || shape == 4 || shape == 6,
                "shape {shape}: {read:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The quick read and threads change nothing: the same alerts in the same order, the same malformed
        /// lines, counters and state. Nor do batch sizes, but for when attempts are parked
        /// (and so the order a tick checks them in, once unpacked).
        #[test]
        fn threads_and_batches_change_nothing(lines in stream(), threads in 2usize..4, batch in 1usize..500) {
            let whole = lines.len().max(1);
            let one = run(&lines, 1, whole);
            prop_assert_eq!(&run(&lines, threads, whole), &one);
            let (mut alerts, bad, counts, _) = run(&lines, threads, batch);
            let mut expected = one.0;
            alerts.sort_unstable();
            expected.sort_unstable();
            prop_assert_eq!((alerts, bad, counts), (expected, one.1, one.2));
        }
    }
}
