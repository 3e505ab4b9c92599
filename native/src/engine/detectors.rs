//! The six rule detectors, each as its Python module was (watch/detectors/, before the port):
//! one event handler per event type it wants, its own per-attempt state, a `Finding` out.
//!
//! Two questions only Python answers are asked through `Oracle`: the fingerprint and category
//! of an error that came without one (`intel.analyze_error`), and whether a category or
//! fingerprint is a transient kind (`intel.taxonomy.is_transient`).

use super::hash::{HashMap, IndexMap};
use serde::{Deserialize, Serialize};

use super::alert::{alert_key, held, python_g, round6, Finding, Value};
use super::line::{Data, Event};

const ERROR_FINGERPRINTS: usize = 64; // per attempt; the oldest is forgotten first
const MAX_TOOLS: usize = 64;
const MAX_PARAMS: usize = 256; // distinct calls remembered per attempt; a forgotten one counts as new again
const FAILED_FINGERPRINTS: usize = 32;
const RESTART_TYPES: [&str; 2] = ["followup", "retry"];
const COMPLETION_STATUSES: [&str; 4] = ["success", "failed", "timeout", "interrupted"];
const UNTIMED: [&str; 2] = ["approximate", "synthetic"];

/// The built-in detectors, by name, in the order the engine runs them (sorted, as the
/// registry listed them).
pub const NATIVE: [&str; 6] = [
    "cost_anomaly",
    "error_loop",
    "excessive_restarts",
    "failed_session",
    "stuck_agent",
    "tool_loop",
];

/// Whether an event's time measures real time (`view.timed`).
pub fn timed(event: &Event) -> bool {
    event
        .timestamp_quality
        .as_deref()
        .is_none_or(|q| !UNTIMED.contains(&q))
}

/// The `[watch]` settings the detectors read (`WatchConfig`).
#[derive(Debug, Clone)]
pub struct Config {
    pub error_loop_threshold: i64,
    pub error_loop_window_ms: i64,
    pub tool_loop_threshold: i64,
    pub tool_loop_window_ms: i64,
    pub tool_repeat_threshold: i64,
    pub stuck_threshold_ms: i64,
    pub waiting_statuses: Vec<String>,
    pub cost_anomaly_threshold: f64,
    /// whether the threshold was an int in the settings (it is shown as it was given)
    pub cost_threshold_is_int: bool,
    pub restart_threshold: i64,
    pub failed_session_errors: i64,
}

/// Python's answers, asked only for errors without a fingerprint.
pub trait Oracle {
    /// (fingerprint, category) `intel.analyze_error` derives from a message.
    fn derive(&mut self, message: &str) -> Option<(String, String)>;
    fn transient(&mut self, category: &str, fingerprint: &str) -> bool;
}

/// An error's (fingerprint, category), derived from its message when it has no fingerprint
/// (`error_loop.fingerprint`).
fn fingerprint(data: &Data, oracle: &mut dyn Oracle) -> Option<(String, Option<String>)> {
    let category = data.error_category.as_deref().map(str::to_string);
    match (&data.error_fingerprint, &data.error_message) {
        (Some(fp), _) if !fp.is_empty() => Some((fp.to_string(), category)),
        (_, Some(message)) if !message.is_empty() => {
            let cut = message
                .char_indices()
                .nth(2000)
                .map_or(message.as_ref(), |(at, _)| &message[..at]);
            let (fp, derived) = oracle.derive(cut)?;
            Some((fp, category.or(Some(derived))))
        }
        _ => None,
    }
}

// --- the per-attempt states -------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorLoop {
    /// fingerprint -> times of its last occurrences (None: an untimed one)
    pub times: IndexMap<String, Vec<Option<f64>>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ToolLoop {
    pub times: IndexMap<String, Vec<f64>>, // tool -> last call times
    pub seen: IndexMap<u32, ()>,           // crc32(tool, params) of calls made, oldest first
    pub run: HashMap<u32, u64>,            // ... -> repeats since the last new call
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CostAnomaly {
    pub cost: f64,
    pub level: u128, // highest multiple (1, 2, 4, ...) already raised
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FailedSession {
    pub errors: u64,
    pub transient: bool, // every error so far was transient
    pub fingerprints: IndexMap<String, u64>,
}

/// The native detectors' slots of one attempt (`attempt.slots` of the Python engine).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Slots {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_anomaly: Option<CostAnomaly>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_loop: Option<ErrorLoop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excessive_restarts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_session: Option<FailedSession>,
    /// stuck_agent: event time of the latest status_change to a waiting status
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stuck_agent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_loop: Option<ToolLoop>,
}

impl Slots {
    pub fn is_empty(&self) -> bool {
        *self == Slots::default()
    }

    /// What outlives a session: the restarts counted across the sessions of one attempt.
    pub fn kept(&self, chosen: &Chosen) -> Slots {
        Slots {
            excessive_restarts: self
                .excessive_restarts
                .filter(|_| chosen.excessive_restarts),
            ..Slots::default()
        }
    }
}

/// Which native detectors run.
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    pub cost_anomaly: bool,
    pub error_loop: bool,
    pub excessive_restarts: bool,
    pub failed_session: bool,
    pub stuck_agent: bool,
    pub tool_loop: bool,
}

impl Chosen {
    pub fn set(&mut self, name: &str) -> bool {
        let flag = match name {
            "cost_anomaly" => &mut self.cost_anomaly,
            "error_loop" => &mut self.error_loop,
            "excessive_restarts" => &mut self.excessive_restarts,
            "failed_session" => &mut self.failed_session,
            "stuck_agent" => &mut self.stuck_agent,
            "tool_loop" => &mut self.tool_loop,
            _ => return false,
        };
        *flag = true;
        true
    }
}

/// A native detector's handler for one event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    CostStart,
    CostUsage,
    CostEnd,
    ErrorLoop,
    Restarts,
    FailedStart,
    FailedError,
    FailedEnd,
    StuckStatus,
    ToolLoop,
}

/// The handlers of a detector, per event type.
pub fn handlers(name: &str) -> &'static [(&'static str, Handler)] {
    match name {
        "cost_anomaly" => &[
            ("session_start", Handler::CostStart),
            ("usage", Handler::CostUsage),
            ("session_end", Handler::CostEnd),
        ],
        "error_loop" => &[("error", Handler::ErrorLoop)],
        "excessive_restarts" => &[("session_start", Handler::Restarts)],
        "failed_session" => &[
            ("session_start", Handler::FailedStart),
            ("error", Handler::FailedError),
            ("session_end", Handler::FailedEnd),
        ],
        "stuck_agent" => &[("status_change", Handler::StuckStatus)],
        "tool_loop" => &[("tool_call", Handler::ToolLoop)],
        _ => &[],
    }
}

/// Where and when an event is handled: its attempt and time, and that attempt's cooldowns.
pub struct At<'a> {
    pub attempt_id: &'a str,
    pub cooldowns: &'a IndexMap<String, f64>,
    pub t: f64,
    pub cooldown_s: f64,
}

impl At<'_> {
    /// Whether the cooldown of a finding would hold it back (`Rules::raise`): a detector then
    /// builds none (after its own state is updated, as ever).
    fn holds(&self, kind: &str, subject: &str) -> bool {
        let last = self
            .cooldowns
            .get(&alert_key(kind, self.attempt_id, subject));
        held(last.copied(), self.t, self.cooldown_s)
    }
}

/// The detectors' settings, read once.
pub struct Detectors {
    pub config: Config,
    cost_threshold: f64, // below it nothing is checked (inf: off)
    rate_n: i64,
    tool_crc: HashMap<String, u32>,
    pub idle_after: Option<f64>,
}

impl Detectors {
    pub fn new(config: Config, chosen: &Chosen) -> Detectors {
        let threshold = config.cost_anomaly_threshold;
        let rate_n = if config.tool_loop_window_ms <= 0 {
            0
        } else {
            config.tool_loop_threshold
        };
        let stuck = config.stuck_threshold_ms;
        Detectors {
            cost_threshold: if threshold > 0.0 {
                threshold
            } else {
                f64::INFINITY
            },
            rate_n,
            tool_crc: HashMap::default(),
            idle_after: (chosen.stuck_agent && stuck > 0).then(|| stuck as f64 / 1000.0),
            config,
        }
    }

    /// One handler on one event: the data is present (the engine ignores events without).
    pub fn handle(
        &mut self,
        handler: Handler,
        event: &Event,
        data: &Data,
        at: &At,
        slots: &mut Slots,
        oracle: &mut dyn Oracle,
    ) -> Option<Finding> {
        let t = at.t;
        match handler {
            Handler::CostStart => {
                slots.cost_anomaly = None; // cost is per session
                None
            }
            Handler::CostUsage => {
                let state = slots.cost_anomaly.get_or_insert_with(Default::default);
                if let Some(cost) = data.cost_usd {
                    state.cost += cost;
                }
                self.cost_check(state)
            }
            Handler::CostEnd => {
                let state = slots.cost_anomaly.get_or_insert_with(Default::default);
                if state.cost == 0.0 {
                    state.cost = data.cost_usd.unwrap_or(0.0);
                }
                self.cost_check(state)
            }
            Handler::ErrorLoop => self.error_loop(event, data, at, slots, oracle),
            Handler::Restarts => self.restarts(data, slots),
            Handler::FailedStart => {
                slots.failed_session = None; // counted per session
                None
            }
            Handler::FailedError => {
                self.failed_error(data, slots, oracle);
                None
            }
            Handler::FailedEnd => {
                let status = data.completion_status.as_deref();
                let failed =
                    status.is_some_and(|s| s == "failed" || !COMPLETION_STATUSES.contains(&s));
                if failed {
                    self.failed_verdict(slots.failed_session.as_ref())
                } else {
                    None
                }
            }
            Handler::StuckStatus => {
                if let Some(status) = data.status.as_deref() {
                    if self.config.waiting_statuses.iter().any(|w| w == status) {
                        slots.stuck_agent = Some(t);
                    }
                }
                None
            }
            Handler::ToolLoop => self.tool_loop(event, data, at, slots),
        }
    }

    // -- cost_anomaly: the running cost of a session crosses the threshold (and its doublings)

    fn cost_check(&self, state: &mut CostAnomaly) -> Option<Finding> {
        let threshold = self.config.cost_anomaly_threshold;
        if state.cost < self.cost_threshold || threshold <= 0.0 || !state.cost.is_finite() {
            return None;
        }
        let doublings = (state.cost / threshold).log2() as u32; // int(math.log2(...))
        let level = 1u128.checked_shl(doublings).unwrap_or(u128::MAX);
        if level <= state.level {
            return None;
        }
        state.level = level;
        let shown_threshold = if self.config.cost_threshold_is_int {
            Value::Int(threshold as i128)
        } else {
            Value::Float(threshold)
        };
        Some(Finding::new(
            "cost_anomaly",
            format!("x{level}"),
            match level {
                1 => "low",
                2 => "medium",
                _ => "high",
            },
            "review_prompt_efficiency",
            vec![
                ("cost_usd", Value::Float(round6(state.cost))),
                ("threshold", shown_threshold),
                (
                    "message",
                    Value::Text(format!(
                        "session cost ${:.2} crossed {level}x ${}",
                        state.cost,
                        python_g(threshold)
                    )),
                ),
            ],
        ))
    }

    // -- error_loop: one error fingerprint repeated in one attempt within a window

    fn error_loop(
        &self,
        event: &Event,
        data: &Data,
        at: &At,
        slots: &mut Slots,
        oracle: &mut dyn Oracle,
    ) -> Option<Finding> {
        let t = at.t;
        let found = fingerprint(data, oracle)?;
        let fp = found.0.clone();
        let state = slots.error_loop.get_or_insert_with(Default::default);
        if !state.times.contains_key(&fp) {
            state.times.insert(fp.clone(), Vec::new());
            if state.times.len() > ERROR_FINGERPRINTS {
                state.times.shift_remove_index(0);
            }
        }
        let times = state.times.get_mut(&fp)?;
        let n = self.config.error_loop_threshold;
        times.push(timed(event).then_some(t));
        if times.len() as i64 > n {
            times.remove(0);
        } else if (times.len() as i64) < n {
            return None;
        }
        let window = self.config.error_loop_window_ms;
        let spanned: Vec<f64> = times.iter().flatten().copied().collect();
        if spanned.len() > 1 {
            let (low, high) = min_max(&spanned);
            if (high - low) * 1000.0 > window as f64 {
                return None;
            }
        }
        if at.holds("error_loop", &fp) {
            return None;
        }
        let within = if spanned.len() > 1 {
            format!("within {} s", python_g(window as f64 / 1000.0))
        } else {
            "(times not measured)".to_string()
        };
        let mut evidence = vec![("error_fingerprint", Value::Text(fp.clone()))];
        if let Some(category) = found.1 {
            evidence.push(("error_category", Value::Text(category)));
        }
        evidence.extend([
            ("occurrences", Value::Int(n.into())),
            ("threshold", Value::Int(n.into())),
            ("window_ms", Value::Int(window.into())),
            (
                "message",
                Value::Text(format!("error {fp} repeated {n} times {within}")),
            ),
        ]);
        Some(Finding::new(
            "error_loop",
            fp,
            "high",
            "trigger_ai_autofix",
            evidence,
        ))
    }

    // -- excessive_restarts: an attempt restarted (follow-up or retry sessions) too often

    fn restarts(&self, data: &Data, slots: &mut Slots) -> Option<Finding> {
        let prompt_type = data.prompt_type.as_deref()?;
        if !RESTART_TYPES.contains(&prompt_type) {
            return None;
        }
        let restarts = slots.excessive_restarts.get_or_insert(0);
        *restarts += 1;
        let n = self.config.restart_threshold;
        if n <= 0 || (*restarts as i64) < n {
            return None;
        }
        Some(Finding::new(
            "excessive_restarts",
            String::new(),
            "medium",
            "manual_review",
            vec![
                ("occurrences", Value::Int((*restarts).into())),
                ("threshold", Value::Int(n.into())),
                (
                    "message",
                    Value::Text(format!("{restarts} follow-up/retry sessions")),
                ),
            ],
        ))
    }

    // -- failed_session: a failed session with many errors (transient ones told apart)

    fn failed_error(&self, data: &Data, slots: &mut Slots, oracle: &mut dyn Oracle) {
        let state = slots.failed_session.get_or_insert_with(|| FailedSession {
            transient: true,
            ..Default::default()
        });
        let given = data
            .error_fingerprint
            .as_deref()
            .filter(|fp| !fp.is_empty())
            .map(str::to_string);
        let mut derived: Option<Option<(String, Option<String>)>> = None;
        let fp = match given {
            Some(fp) => fp,
            None => derived
                .get_or_insert_with(|| fingerprint(data, oracle))
                .as_ref()
                .map_or_else(|| "unknown".to_string(), |f| f.0.clone()),
        };
        state.errors += 1;
        if let Some(count) = state.fingerprints.get_mut(&fp) {
            *count += 1;
        } else if state.fingerprints.len() < FAILED_FINGERPRINTS {
            state.fingerprints.insert(fp.clone(), 1);
        }
        if state.transient {
            // until the first error that is not: the category is needed only here
            let category = derived
                .get_or_insert_with(|| fingerprint(data, oracle))
                .as_ref()
                .and_then(|f| f.1.clone())
                .filter(|category| !category.is_empty()) // `category or "unknown"`
                .unwrap_or_else(|| "unknown".to_string());
            if !oracle.transient(&category, &fp) {
                state.transient = false;
            }
        }
    }

    fn failed_verdict(&self, state: Option<&FailedSession>) -> Option<Finding> {
        let n = self.config.failed_session_errors;
        let state = state?;
        if n <= 0 || (state.errors as i64) < n {
            return None;
        }
        // Counter.most_common(1): the highest count, the first inserted among equals
        let top = state
            .fingerprints
            .iter()
            .fold(None::<(&String, u64)>, |best, (fp, &count)| match best {
                Some((_, most)) if most >= count => best,
                _ => Some((fp, count)),
            })
            .map(|(fp, _)| fp.clone());
        let mut kinds: Vec<&str> = state.fingerprints.keys().map(String::as_str).collect();
        kinds.sort_unstable();
        let kinds = kinds.join(", ");
        let mut evidence = vec![
            ("occurrences", Value::Int(state.errors.into())),
            ("threshold", Value::Int(n.into())),
        ];
        if let Some(top) = top {
            evidence.push(("error_fingerprint", Value::Text(top)));
        }
        let errors = state.errors;
        if state.transient {
            evidence.push((
                "message",
                Value::Text(format!("failed with {errors} transient errors ({kinds})")),
            ));
            return Some(Finding::new(
                "failed_session_transient_errors",
                String::new(),
                "medium",
                "switch_sdk_or_backoff_retry",
                evidence,
            ));
        }
        evidence.push((
            "message",
            Value::Text(format!("failed with {errors} errors ({kinds})")),
        ));
        Some(Finding::new(
            "failed_session_high_errors",
            String::new(),
            "high",
            "analyze_root_cause",
            evidence,
        ))
    }

    // -- stuck_agent: a started, unfinished attempt with no event for the threshold

    /// Asked when an attempt was idle until `now`; `last_id` is its latest event's identity.
    pub fn stuck(
        &self,
        last_time: f64,
        idle_alerted: &mut bool,
        slots: &Slots,
        last_id: &str,
        now: f64,
    ) -> Option<Finding> {
        let idle_after = self.idle_after?;
        let idle = now - last_time;
        if *idle_alerted || idle < idle_after {
            return None;
        }
        *idle_alerted = true; // this idle period is dealt with, alert or not
        if slots
            .stuck_agent
            .is_some_and(|waiting| waiting >= last_time)
        {
            return None; // waiting for its user since its latest event
        }
        let severity = if idle >= 3.0 * idle_after {
            "high"
        } else {
            "medium"
        };
        let span = if idle < 120.0 {
            format!("{idle:.0} s")
        } else {
            format!("{:.1} min", idle / 60.0)
        };
        let mut finding = Finding::new(
            "stuck_agent",
            String::new(),
            severity,
            "check_agent_health",
            vec![
                (
                    "idle_time_ms",
                    Value::Int((idle * 1000.0).round_ties_even() as i128),
                ),
                (
                    "threshold",
                    Value::Int(self.config.stuck_threshold_ms.into()),
                ),
                ("message", Value::Text(format!("no event for {span}"))),
            ],
        );
        finding.trigger = Some(last_id.to_string());
        finding.cooldown = false;
        Some(finding)
    }

    // -- tool_loop: one tool repeated with identical params (or called too fast)

    fn tool_loop(
        &mut self,
        event: &Event,
        data: &Data,
        at: &At,
        slots: &mut Slots,
    ) -> Option<Finding> {
        let tool = data.tool_name.as_deref().filter(|tool| !tool.is_empty())?;
        let state = slots.tool_loop.get_or_insert_with(Default::default);
        let hold = || at.holds("tool_loop", tool);
        let mut evidence = None;
        if self.rate_n > 0 && timed(event) {
            evidence = self.rate(state, tool, at.t, hold);
        }
        if self.config.tool_repeat_threshold > 0 {
            let repeat = self.repeat(state, tool, data.tool_params.as_bytes(), hold);
            evidence = evidence.or(repeat);
        }
        let evidence = evidence?; // nothing made for the many calls that raise nothing
        let mut fields = vec![("tool_name", Value::Text(tool.to_string()))];
        fields.extend(evidence);
        Some(Finding::new(
            "tool_loop",
            tool.to_string(),
            "medium",
            "fresh_session",
            fields,
        ))
    }

    fn rate(
        &self,
        state: &mut ToolLoop,
        tool: &str,
        t: f64,
        hold: impl Fn() -> bool,
    ) -> Option<Vec<(&'static str, Value)>> {
        let n = self.rate_n;
        if !state.times.contains_key(tool) {
            state.times.insert(tool.to_string(), Vec::new());
            if state.times.len() > MAX_TOOLS {
                state.times.shift_remove_index(0);
            }
        }
        let times = state.times.get_mut(tool)?;
        times.push(t);
        if times.len() as i64 > n {
            times.remove(0);
        }
        let window = self.config.tool_loop_window_ms;
        if (times.len() as i64) < n {
            return None;
        }
        let (low, high) = min_max(times);
        if (high - low) * 1000.0 > window as f64 || hold() {
            return None;
        }
        Some(vec![
            ("occurrences", Value::Int(n.into())),
            ("threshold", Value::Int(n.into())),
            ("window_ms", Value::Int(window.into())),
            (
                "message",
                Value::Text(format!(
                    "{tool} called {n} times within {} s",
                    python_g(window as f64 / 1000.0)
                )),
            ),
        ])
    }

    fn repeat(
        &mut self,
        state: &mut ToolLoop,
        tool: &str,
        params: &[u8],
        hold: impl Fn() -> bool,
    ) -> Option<Vec<(&'static str, Value)>> {
        let seed = match self.tool_crc.get(tool) {
            Some(&seed) => seed,
            None => {
                if self.tool_crc.len() > 4096 {
                    self.tool_crc.clear();
                }
                let seed = crc32fast::hash(tool.as_bytes());
                self.tool_crc.insert(tool.to_string(), seed);
                seed
            }
        };
        let mut hasher = crc32fast::Hasher::new_with_initial(seed); // zlib.crc32(params, seed)
        hasher.update(params);
        let key = hasher.finalize();
        if state.seen.shift_remove(&key).is_none() {
            // a call not made before: progress, every count starts over
            if state.seen.len() >= MAX_PARAMS {
                state.seen.shift_remove_index(0);
            }
            state.run.clear();
        }
        state.seen.insert(key, ()); // (re-)inserted: the most recent stay when capped
        let count = state.run.entry(key).or_insert(0);
        *count += 1;
        let count = *count;
        let n = self.config.tool_repeat_threshold;
        if (count as i64) < n || hold() {
            return None;
        }
        Some(vec![
            ("occurrences", Value::Int(count.into())),
            ("threshold", Value::Int(n.into())),
            (
                "message",
                Value::Text(format!(
                    "{tool} called {count} times with identical params, nothing new in between"
                )),
            ),
        ])
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}
