//! The detection engine's state and rules, with no Python in it: lines in, findings raised
//! as alerts out. What only Python knows (an error's derived fingerprint, an odd timestamp,
//! a plugin detector) is asked through `Host`.
//!
//! Time. Each attempt is judged on its own clock: a gap of the stuck threshold between two of
//! its events is found when the second one is read, whatever other attempts were read in
//! between, so a replay finds the same alerts for any batch size and any order of whole
//! attempts. The wall clock comes in through `tick(now)` alone. An event dated beyond
//! `now + tolerance` is read as of `now`, one before 2000 as untimed; from the first tick on,
//! the engine notes when it last heard from each attempt (old events arriving now are not
//! stuck for being old). Approximate or synthetic times measure nothing.
//!
//! Memory. An attempt's state goes at its session_end (what a detector keeps across sessions
//! stays, with the attempt's cooldowns, in a bounded `ended` table). An attempt quiet for long
//! is parked: packed into a few hundred bytes, unpacked when heard from again, so parking
//! changes no alert. Only past `max_parked` (a shard's share of MAX_PARKED) is the one parked
//! longest forgotten.

use std::borrow::Cow;
use std::collections::VecDeque;

use super::hash::{HashMap, HashSet, IndexMap};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::alert::{alert_id, alert_key, held, Finding};
use super::detectors::{self, At, Chosen, Detectors, Handler, Oracle, Slots};
use super::line::Event;
use super::time;

pub const REOPENING: [&str; 2] = ["session_start", "followup_sent"]; // events that revive an ended attempt
pub const MAX_ENDED: usize = 50_000;
pub const MAX_PARKED: usize = 100_000;
pub const MAX_COOLDOWNS: usize = 64; // per attempt; past it, those older than the cooldown go
const PARK_AFTER_S: f64 = 600.0; // quiet this long (and 3x the stuck threshold): packed away
const EARLIEST: f64 = 946_684_800.0; // 2000-01-01T00:00:00Z: earlier is an unset clock
const MAX_TIMES: usize = 65_536; // odd timestamps remembered

/// What the engine keeps per attempt. Fields at their defaults are left out of its JSON
/// (snapshots, parked and ended attempts): most ended ones keep only their cooldowns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_time: f64, // latest event time seen (epoch s)
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_id: String, // that event's identity
    #[serde(default, skip_serializing_if = "is_false")]
    pub idle_alerted: bool, // the current idle period was dealt with
    #[serde(default, skip_serializing_if = "is_false")]
    pub untimed: bool, // last_time is approximate or synthetic: a gap from it is no idleness
    #[serde(default, skip_serializing_if = "is_zero")]
    pub heard: f64, // wall time its latest event was read, once caught up (0: unknown)
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub cooldowns: IndexMap<String, f64>, // alert key -> event time of its last alert
    #[serde(default, skip_serializing_if = "Slots::is_empty")]
    pub slots: Slots,
    #[serde(skip)]
    // when it (re-)entered `active`, an ordinal shared by all shards: the order the Python
    // engine's dict kept
    order: u64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_false(x: &bool) -> bool {
    !*x
}

/// What an ended attempt keeps (its cooldowns, the slots that outlive sessions), as its
/// JSON: a few hundred bytes instead of a whole `Attempt` with its maps, for each of up to
/// MAX_ENDED attempts, and written into a snapshot as it is.
pub type Kept = Box<RawValue>;

/// A detector's finding turned into an alert (the Python face builds `events.Alert`).
#[derive(Debug)]
pub struct Raised {
    pub finding: Finding,
    pub attempt_id: String,
    pub executor: Option<String>,
    pub task_id: Option<String>,
    pub alert_id: String,
    pub key: String,
    pub event_time: f64,
}

/// One step run for an event type: a native handler, a Python detector's, or the engine's
/// own end of session (always last).
#[derive(Debug, Clone, Copy)]
pub enum Step {
    Native(Handler),
    Python(usize),
    End,
}

/// A detector written in Python, as the engine needs to know it.
#[derive(Debug, Clone)]
pub struct PythonDetector {
    pub name: String,
    pub event_types: Vec<String>,
    pub idle_after: Option<f64>,
    /// only events of these executors are its business (None: all)
    pub executors: Option<HashSet<String>>,
}

/// What only the Python side can do.
pub trait Host: Oracle {
    /// `view.event_time`: epoch seconds of a timestamp not in the stream's format.
    fn odd_time(&mut self, timestamp: &str) -> Option<f64>;
    /// A Python detector's handler on this event (the line it was decoded from).
    fn on_event(
        &mut self,
        detector: usize,
        attempt_id: &str,
        attempt: &mut Attempt,
        line: &[u8],
        t: f64,
    ) -> Option<Finding>;
    /// A Python detector's clock check.
    fn on_clock(
        &mut self,
        detector: usize,
        attempt_id: &str,
        attempt: &mut Attempt,
        now: f64,
    ) -> Option<Finding>;
    /// The attempt's session ended: keep only what the Python detectors keep; whether any is left.
    fn ended(&mut self, attempt_id: &str) -> bool;
    /// The attempt is forgotten.
    fn forget(&mut self, attempt_id: &str);
    /// Whether the Python side stopped on an error (the call is then given up).
    fn failed(&self) -> bool;
}

/// A map that remembers the order of insertion and drops its oldest entry in O(1)
/// (the Python engine's OrderedDict).
#[derive(Debug, Default)]
pub struct Fifo<V> {
    map: HashMap<String, (u64, V)>,
    queue: VecDeque<(u64, String)>,
    next: u64,
}

impl<V> Fifo<V> {
    pub fn insert(&mut self, key: String, value: V) {
        self.next += 1;
        self.queue.push_back((self.next, key.clone()));
        self.map.insert(key, (self.next, value));
        if self.queue.len() > 2 * self.map.len() + 1024 {
            let map = &self.map;
            self.queue
                .retain(|(seq, key)| map.get(key).is_some_and(|(s, _)| s == seq));
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.map.remove(key).map(|(_, value)| value)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn pop_oldest(&mut self) -> Option<(String, V)> {
        while let Some((seq, key)) = self.queue.pop_front() {
            if self.map.get(&key).is_some_and(|(s, _)| *s == seq) {
                let (_, value) = self.map.remove(&key)?;
                return Some((key, value));
            }
        }
        None
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.queue.iter().filter_map(|(seq, key)| {
            let (s, value) = self.map.get(key)?;
            (s == seq).then_some((key, value))
        })
    }
}

/// When the lines were read: (latest believable event time, the time read, when their
/// attempts were heard from).
#[derive(Debug, Clone, Copy)]
pub struct ReadAt {
    latest: f64,
    now: f64,
    heard: Option<f64>,
}

/// The engine's per-attempt state.
#[derive(Debug, Default)]
pub struct State {
    pub active: HashMap<String, Attempt>,
    pub parked: Fifo<Vec<u8>>, // packed attempts, the longest parked first
    pub unjudged: HashSet<String>, // parked before a wall clock saw their latest quiet time
    // what outlives a session, or nothing (boxed: most are nothing, and a table of 50,000
    // inline attempts, doubled while it rehashes, would be most of the engine's memory)
    pub ended: Fifo<Option<Kept>>,
    pub remembered: HashMap<String, IndexMap<String, f64>>, // cooldowns from the journal
    pub clock: f64,
    pub caught_up: bool,
    pub since: Option<f64>,
    pub events: u64,
    pub malformed: u64,
    pub ignored: u64,
    pub misdated: u64,
    /// the caps of `ended` and `parked` (MAX_ENDED and MAX_PARKED shared by the shards)
    pub max_ended: usize,
    pub max_parked: usize,
}

/// The rules: which detectors run on which event, and the engine's settings.
pub struct Rules {
    pub detectors: Detectors,
    pub python: Vec<PythonDetector>,
    clocked_python: Vec<usize>,
    pub idle_after: Option<f64>,
    park_after: f64,
    cooldown_s: f64,
    tolerance: f64,
    kept: Chosen,
}

pub struct Core {
    pub rules: Rules,
    steps: HashMap<String, Vec<Step>>, // per event type, in the detectors' order
    pub state: State,
    times: HashMap<String, Option<f64>>,
    trigger: String,
}

impl Core {
    /// `order`: the names of the detectors to run, in the order they run (native or Python).
    pub fn new(
        config: detectors::Config,
        order: &[String],
        python: Vec<PythonDetector>,
        cooldown_ms: f64,
        tolerance_ms: f64,
    ) -> Result<Core, String> {
        let mut chosen = Chosen::default();
        let mut steps: HashMap<String, Vec<Step>> = HashMap::default();
        let mut clocked_python = Vec::new();
        for name in order {
            if chosen.set(name) {
                for (kind, handler) in detectors::handlers(name) {
                    steps
                        .entry(kind.to_string())
                        .or_default()
                        .push(Step::Native(*handler));
                }
            } else if let Some(i) = python.iter().position(|d| &d.name == name) {
                for kind in &python[i].event_types {
                    steps.entry(kind.clone()).or_default().push(Step::Python(i));
                }
                if python[i].idle_after.is_some() {
                    clocked_python.push(i);
                }
            } else {
                return Err(format!("unknown detector: {name}"));
            }
        }
        steps
            .entry("session_end".into())
            .or_default()
            .push(Step::End);
        let detectors = Detectors::new(config, &chosen);
        let idle_after = clocked_python
            .iter()
            .filter_map(|&i| python[i].idle_after)
            .chain(detectors.idle_after)
            .reduce(f64::min);
        Ok(Core {
            steps,
            rules: Rules {
                detectors,
                clocked_python,
                idle_after,
                park_after: (3.0 * idle_after.unwrap_or(0.0)).max(PARK_AFTER_S),
                cooldown_s: cooldown_ms / 1000.0,
                tolerance: tolerance_ms / 1000.0,
                kept: Chosen {
                    excessive_restarts: chosen.excessive_restarts,
                    ..Chosen::default()
                },
                python,
            },
            state: State {
                max_ended: MAX_ENDED,
                max_parked: MAX_PARKED,
                ..State::default()
            },
            times: HashMap::default(),
            trigger: String::new(),
        })
    }

    pub fn read_at(&self, now: Option<f64>) -> ReadAt {
        match now {
            None => ReadAt {
                latest: f64::INFINITY,
                now: f64::INFINITY,
                heard: None,
            },
            Some(now) => ReadAt {
                latest: now + self.rules.tolerance,
                now,
                heard: self.state.caught_up.then_some(now),
            },
        }
    }

    /// A line the decoder found malformed.
    pub fn malformed(&mut self) {
        self.state.malformed += 1;
    }

    fn time(&mut self, timestamp: &str, host: &mut dyn Host) -> Option<f64> {
        if let Some(t) = time::parse_stream(timestamp) {
            return Some(t);
        }
        if let Some(known) = self.times.get(timestamp) {
            return *known;
        }
        let t = host.odd_time(timestamp);
        if self.times.len() >= MAX_TIMES {
            self.times.clear();
        }
        self.times.insert(timestamp.to_string(), t);
        t
    }

    /// A decoded event (of `line`, the `ordinal`-th line read): its alerts appended to `out`.
    pub fn event(
        &mut self,
        event: &Event,
        line: &[u8],
        ordinal: u64,
        read: ReadAt,
        host: &mut dyn Host,
        out: &mut Vec<Raised>,
    ) {
        self.state.events += 1;
        let attempt_id = match event.attempt_id.as_deref() {
            Some(id) if !id.is_empty() => id,
            _ => return self.state.ignored += 1,
        };
        let (Some(timestamp), Some(data)) = (event.timestamp.as_deref(), event.data.as_ref())
        else {
            return self.state.ignored += 1;
        };
        let Some(mut t) = self.time(timestamp, host) else {
            return self.state.ignored += 1;
        };
        if self.state.since.is_some_and(|since| t < since) {
            return self.state.ignored += 1;
        }
        let mut untimed = !detectors::timed(event);
        if !(EARLIEST <= t && t <= read.latest) {
            // later than read (plus the tolerance): read as of then; before 2000: measures nothing
            self.state.misdated += 1;
            if t > read.now {
                t = read.now;
            } else {
                untimed = true;
            }
        }
        let kind: &str = &event.event_type;
        if !self.state.active.contains_key(attempt_id) && !self.open(attempt_id, kind, t, ordinal) {
            return self.state.ignored += 1; // a straggler after the session ended
        }
        let Core {
            rules,
            state,
            trigger,
            steps,
            ..
        } = self;
        let attempt = state.active.get_mut(attempt_id).expect("opened above");
        if let Some(idle_after) = rules.idle_after {
            if t - attempt.last_time >= idle_after && !(untimed || attempt.untimed) {
                rules.clock(attempt_id, attempt, t, host, out); // it was idle until now
            }
        }
        if t >= attempt.last_time {
            attempt.last_time = t;
            event.trigger(&mut attempt.last_id);
            attempt.idle_alerted = false;
            attempt.untimed = untimed;
        }
        if let Some(heard) = read.heard {
            attempt.heard = heard;
        }
        if attempt.executor.is_none() {
            attempt.executor = event.executor.as_deref().map(str::to_string);
            attempt.task_id = event.task_id.as_deref().map(str::to_string);
        }
        if t > state.clock {
            state.clock = t;
        }
        let Some(steps) = steps.get(kind) else {
            return;
        };
        let mut end = false;
        for step in steps {
            let finding = match *step {
                Step::Native(handler) => {
                    let at = At {
                        attempt_id,
                        cooldowns: &attempt.cooldowns,
                        t,
                        cooldown_s: rules.cooldown_s,
                    };
                    let slots = &mut attempt.slots;
                    rules
                        .detectors
                        .handle(handler, event, data, &at, slots, host)
                }
                Step::Python(i) => {
                    let wanted = rules.python[i].executors.as_ref().is_none_or(|executors| {
                        let executor = event.executor.as_deref().unwrap_or(""); // as `executor or ""`
                        executors.contains(executor)
                    });
                    if wanted {
                        host.on_event(i, attempt_id, attempt, line, t)
                    } else {
                        None
                    }
                }
                Step::End => {
                    end = true;
                    None
                }
            };
            if let Some(finding) = finding {
                event.trigger(trigger);
                if let Some(raised) = rules.raise(finding, attempt_id, attempt, trigger, t) {
                    out.push(raised);
                }
            }
        }
        if end {
            self.end(attempt_id, host);
        }
    }

    /// A new attempt (its clock starting at `t`), a parked one unpacked, or an ended one
    /// revived by a new session; false for a straggler.
    fn open(&mut self, attempt_id: &str, kind: &str, t: f64, order: u64) -> bool {
        let state = &mut self.state;
        let mut attempt = if let Some(blob) = state.parked.remove(attempt_id) {
            state.unjudged.remove(attempt_id);
            unpack(&blob)
        } else if state.ended.contains(attempt_id) {
            if !REOPENING.contains(&kind) {
                return false;
            }
            let mut attempt = state
                .ended
                .remove(attempt_id)
                .flatten()
                .map_or_else(Attempt::default, |kept| unpack(kept.get().as_bytes()));
            attempt.last_time = t;
            attempt
        } else {
            Attempt {
                last_time: t,
                ..Attempt::default()
            }
        };
        if let Some(more) = state.remembered.remove(attempt_id) {
            merge(&mut attempt.cooldowns, &more);
        }
        attempt.order = order;
        self.state.active.insert(attempt_id.to_string(), attempt);
        true
    }

    /// The engine's own session_end handler: the attempt leaves `active`.
    fn end(&mut self, attempt_id: &str, host: &mut dyn Host) {
        let Some(attempt) = self.state.active.remove(attempt_id) else {
            return;
        };
        let slots = attempt.slots.kept(&self.rules.kept);
        let python_kept = host.ended(attempt_id);
        // a new session of the attempt still counts what outlives sessions, and honours cooldowns
        let entry = (!slots.is_empty() || python_kept || !attempt.cooldowns.is_empty())
            .then(|| {
                let kept = Attempt {
                    slots,
                    cooldowns: attempt.cooldowns,
                    ..Attempt::default()
                };
                serde_json::value::to_raw_value(&kept).ok() // an Attempt always encodes
            })
            .flatten();
        self.state.ended.insert(attempt_id.to_string(), entry);
        if self.state.ended.len() > self.state.max_ended {
            if let Some((gone, _)) = self.state.ended.pop_oldest() {
                host.forget(&gone);
            }
        }
    }

    /// The active attempts with their orders, in the order the Python engine's dict held them.
    pub fn active_in_order(&self) -> Vec<(u64, String)> {
        let mut ids: Vec<(u64, String)> = self
            .state
            .active
            .iter()
            .map(|(id, a)| (a.order, id.clone()))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The caller has read everything there is: from now on the wall clock counts. The
    /// attempts parked before a wall clock saw their latest quiet time become active again
    /// (with the next `order`s) to be checked by `tick` (see `Shards::tick`).
    pub fn caught_up(&mut self, now: f64, order: &mut u64) {
        if !self.state.caught_up {
            self.state.caught_up = true;
            let horizon = now - self.rules.cooldown_s; // older remembered cooldowns cannot hold back a live alert
            self.state.remembered.retain(|_, cooldowns| {
                cooldowns.retain(|_, t| *t >= horizon);
                !cooldowns.is_empty()
            });
        }
        let mut unjudged: Vec<String> = self.state.unjudged.drain().collect();
        unjudged.sort_unstable();
        for attempt_id in unjudged {
            if let Some(blob) = self.state.parked.remove(&attempt_id) {
                *order += 1;
                let attempt = Attempt {
                    order: *order,
                    ..unpack(&blob)
                };
                self.state.active.insert(attempt_id, attempt);
            }
        }
    }

    /// Check an open attempt against the wall clock `now` (stuck agents), and park it when
    /// quiet for long.
    pub fn tick(&mut self, attempt_id: &str, now: f64, host: &mut dyn Host, out: &mut Vec<Raised>) {
        let idle_after = self.rules.idle_after.unwrap_or(f64::INFINITY);
        let Core { rules, state, .. } = self;
        let Some(attempt) = state.active.get_mut(attempt_id) else {
            return;
        };
        let quiet = now - attempt.last_time.max(attempt.heard);
        if quiet >= idle_after && !attempt.idle_alerted {
            if attempt.untimed {
                attempt.idle_alerted = true; // its time measures nothing: it cannot be judged idle
            } else {
                rules.clock(attempt_id, attempt, now, host, out);
            }
        }
        if quiet >= self.rules.park_after {
            self.park(attempt_id, true, host);
        }
    }

    /// Now and then while reading: park the attempts quiet for long on the stream's own
    /// `clock` (losslessly: for memory only, never for a verdict).
    pub fn sweep(&mut self, clock: f64, host: &mut dyn Host) {
        let horizon = clock - self.rules.park_after;
        for (_, attempt_id) in self.active_in_order() {
            let attempt = &self.state.active[&attempt_id];
            if attempt.last_time.max(attempt.heard) <= horizon {
                let judged = attempt.idle_alerted;
                self.park(&attempt_id, judged, host);
            }
        }
    }

    /// Pack an attempt away; `judged`: a wall clock already saw its latest quiet time (else
    /// the next tick unpacks it to check it).
    fn park(&mut self, attempt_id: &str, judged: bool, host: &mut dyn Host) {
        let Some(attempt) = self.state.active.remove(attempt_id) else {
            return;
        };
        self.state
            .parked
            .insert(attempt_id.to_string(), pack(&attempt));
        if !judged {
            self.state.unjudged.insert(attempt_id.to_string());
        }
        if self.state.parked.len() > self.state.max_parked {
            if let Some((gone, _)) = self.state.parked.pop_oldest() {
                self.state.unjudged.remove(&gone);
                host.forget(&gone);
            }
        }
    }

    /// Take an alert already written (by an earlier run) into its attempt's cooldowns.
    pub fn remember(&mut self, attempt_id: &str, key: &str, event_time: &str, host: &mut dyn Host) {
        let Some(t) = self.time(event_time, host) else {
            return;
        };
        let more = IndexMap::from_iter([(key.to_string(), t)]);
        match self.state.active.get_mut(attempt_id) {
            Some(attempt) => merge(&mut attempt.cooldowns, &more),
            None => merge(
                self.state
                    .remembered
                    .entry(attempt_id.to_string())
                    .or_default(),
                &more,
            ),
        }
    }

    // -- persistence ---------------------------------------------------------------------------

    /// The state to save, borrowed; the active attempts with their orders (see
    /// `Shards::snapshot`).
    pub fn snapshot(&self) -> (SnapshotOf<'_>, Vec<u64>) {
        let state = &self.state;
        let mut active: Vec<(u64, (&str, &Attempt))> = state
            .active
            .iter()
            .map(|(id, a)| (a.order, (id.as_str(), a)))
            .collect();
        active.sort_unstable_by_key(|(order, _)| *order);
        let (orders, active) = active.into_iter().unzip();
        let mut unjudged: Vec<&str> = state.unjudged.iter().map(String::as_str).collect();
        unjudged.sort_unstable();
        let snapshot = SnapshotOf {
            clock: state.clock,
            active,
            parked: (state.parked.iter())
                .map(|(id, blob)| (id.as_str(), String::from_utf8_lossy(blob)))
                .collect(),
            unjudged,
            ended: (state.ended.iter())
                .map(|(id, a)| (id.as_str(), a))
                .collect(),
            remembered: (state.remembered.iter())
                .map(|(id, c)| (id.as_str(), c))
                .collect(),
        };
        (snapshot, orders)
    }

    /// Continue from a snapshot, its active attempts with their `orders` (`Shards::restore`).
    pub fn restore(&mut self, snapshot: Snapshot, orders: &[u64]) {
        let state = &mut self.state;
        state.clock = snapshot.clock;
        state.active.clear();
        state.parked = Fifo::default();
        state.ended = Fifo::default();
        for ((id, mut attempt), &order) in snapshot.active.into_iter().zip(orders) {
            attempt.order = order;
            state.active.insert(id, attempt);
        }
        for (id, blob) in snapshot.parked {
            state.parked.insert(id, blob.into_bytes());
        }
        state.unjudged = snapshot
            .unjudged
            .into_iter()
            .filter(|id| state.parked.contains(id))
            .collect();
        for (id, attempt) in snapshot.ended {
            state.ended.insert(id, attempt);
        }
        state.remembered = snapshot.remembered.into_iter().collect();
    }
}

impl Rules {
    fn clock(
        &mut self,
        attempt_id: &str,
        attempt: &mut Attempt,
        now: f64,
        host: &mut dyn Host,
        out: &mut Vec<Raised>,
    ) {
        // the clocked detectors in the order they run: the native stuck_agent is the only native one
        let last_id = attempt.last_id.clone();
        let mut findings = Vec::new();
        let stuck = self.detectors.stuck(
            attempt.last_time,
            &mut attempt.idle_alerted,
            &attempt.slots,
            &last_id,
            now,
        );
        findings.extend(stuck);
        for &i in &self.clocked_python.clone() {
            findings.extend(host.on_clock(i, attempt_id, attempt, now));
        }
        let t = attempt.last_time;
        for finding in findings {
            if let Some(raised) = self.raise(finding, attempt_id, attempt, &last_id, t) {
                out.push(raised);
            }
        }
    }

    /// A finding as an alert, unless its key raised one within the cooldown.
    fn raise(
        &mut self,
        finding: Finding,
        attempt_id: &str,
        attempt: &mut Attempt,
        trigger: &str,
        t: f64,
    ) -> Option<Raised> {
        let key = alert_key(&finding.kind, attempt_id, &finding.subject);
        if finding.cooldown {
            let cooldowns = &mut attempt.cooldowns;
            let last = cooldowns.get(&key).copied();
            if held(last, t, self.cooldown_s) {
                return None;
            }
            cooldowns.insert(key.clone(), last.map_or(t, |last| last.max(t)));
            if cooldowns.len() > MAX_COOLDOWNS {
                // the attempt's own, oldest first: no other attempt decides
                let horizon = t - self.cooldown_s;
                cooldowns.retain(|_, last| *last >= horizon);
            }
        }
        let trigger = finding
            .trigger
            .clone()
            .unwrap_or_else(|| trigger.to_string());
        Some(Raised {
            alert_id: alert_id(&key, &trigger),
            attempt_id: attempt_id.to_string(),
            executor: attempt.executor.clone(),
            task_id: attempt.task_id.clone(),
            key,
            event_time: t,
            finding,
        })
    }
}

fn merge(cooldowns: &mut IndexMap<String, f64>, more: &IndexMap<String, f64>) {
    for (key, &t) in more {
        let kept = cooldowns.get(key).map_or(t, |&old| t.max(old));
        cooldowns.insert(key.clone(), kept);
    }
}

fn pack(attempt: &Attempt) -> Vec<u8> {
    serde_json::to_vec(attempt).unwrap_or_default()
}

fn unpack(blob: &[u8]) -> Attempt {
    serde_json::from_slice(blob).unwrap_or_default()
}

/// Everything needed to continue exactly here, cooldowns included (they travel with the
/// position: rebuilt from the journal they would include alerts raised after it).
#[derive(Debug, Default, Deserialize)]
pub struct Snapshot {
    pub clock: f64,
    pub active: Vec<(String, Attempt)>,
    pub parked: Vec<(String, String)>,
    pub unjudged: Vec<String>,
    pub ended: Vec<(String, Option<Kept>)>,
    pub remembered: Vec<(String, IndexMap<String, f64>)>,
}

/// A `Snapshot` as it is written, borrowing the state: encoding a copy of it doubled the
/// memory a checkpoint takes (with 100k attempts, the peak of a long watch).
#[derive(Debug, Default, Serialize)]
pub struct SnapshotOf<'a> {
    pub clock: f64,
    pub active: Vec<(&'a str, &'a Attempt)>,
    pub parked: Vec<(&'a str, Cow<'a, str>)>,
    pub unjudged: Vec<&'a str>,
    pub ended: Vec<(&'a str, &'a Option<Kept>)>,
    pub remembered: Vec<(&'a str, &'a IndexMap<String, f64>)>,
}
