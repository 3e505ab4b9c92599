//! The watch's detection engine (`agentlog._core.Engine`, re-exported as
//! `agentlog.watch.Engine`): lines in, `events.Alert`s out, deterministic.
//!
//! `core` holds the state and rules, `detectors` the six built-in detectors, `line` the
//! decoder, `time` and `alert` Python's formats. This module is the Python face: it builds
//! the engine from a `WatchConfig` and the detectors `load_detectors` gives (the built-in ones
//! by name, plugins' as Python objects), and answers what only Python knows.
//!
//! The slow path. A detector written in Python (a plugin's, or the model-driven `risk` and
//! `session_anomaly`) is called with the event decoded by `view.decode` (only for the event
//! types it asked for), the event time and a per-attempt `detectors.Attempt` holder; its
//! `Finding`s become alerts under the same cooldown and id rules as the native ones.

mod alert;
mod core;
mod detectors;
pub(crate) mod hash;
pub(crate) mod line;
pub(crate) mod scan;
mod shards;
pub mod time;

use self::hash::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use self::alert::{Finding, Value};
use self::core::{Attempt, Core, Host, PythonDetector, Raised, Snapshot};
use self::shards::{Shards, PARALLEL_LINES, SHARDS};

const SNAPSHOT_VERSION: u32 = 3;
const MAX_DERIVED: usize = 4096;
/// A batch that called Python detectors for more than one line in this many is read on one
/// thread the next time.
const PYTHON_BOUND: usize = 32;

/// A Python detector's callables.
struct PythonCalls {
    handlers: HashMap<String, Py<PyAny>>,
    on_clock: Option<Py<PyAny>>,
    keep_after_end: bool,
    name: String,
    state: Py<PyAny>, // its State class (None: it keeps none)
}

/// The Python objects the engine calls.
struct Python_ {
    alert: Py<PyAny>,         // events.Alert
    malformed: Py<PyAny>,     // view.Malformed
    decode: Py<PyAny>,        // view.decode
    event_time: Py<PyAny>,    // view.event_time
    analyze_error: Py<PyAny>, // intel.analyze_error
    is_transient: Py<PyAny>,  // intel.taxonomy.is_transient
    holder: Py<PyAny>,        // detectors.Attempt
    namespace: Py<PyAny>,     // types.SimpleNamespace
    detectors: Vec<PythonCalls>,
    holders: HashMap<String, Py<PyAny>>, // attempt id -> its Python detectors' Attempt
}

impl Python_ {
    fn analyze(&self, py: Python<'_>, message: &str) -> PyResult<(String, String)> {
        let info = self.analyze_error.bind(py).call1((message,))?;
        Ok((
            info.getattr("fingerprint")?.extract()?,
            info.getattr("category")?.extract()?,
        ))
    }

    fn is_transient(&self, py: Python<'_>, category: &str, fingerprint: &str) -> PyResult<bool> {
        let ask = |what: &str| self.is_transient.bind(py).call1((what,))?.is_truthy();
        Ok(ask(category)? || ask(fingerprint)?)
    }

    fn odd_time(&self, py: Python<'_>, timestamp: &str) -> PyResult<Option<f64>> {
        self.event_time.bind(py).call1((timestamp,))?.extract()
    }
}

/// Python's answers about errors, remembered (one set per thread that asks).
#[derive(Default)]
struct Answers {
    derived: HashMap<String, Option<(String, String)>>,
    transient: HashMap<(String, String), bool>,
}

impl Answers {
    fn derive(
        &mut self,
        message: &str,
        ask: impl FnOnce() -> PyResult<(String, String)>,
        error: &mut Option<PyErr>,
    ) -> Option<(String, String)> {
        if let Some(known) = self.derived.get(message) {
            return known.clone();
        }
        let found = keep(error, ask());
        if self.derived.len() >= MAX_DERIVED {
            self.derived.clear();
        }
        self.derived.insert(message.to_string(), found.clone());
        found
    }

    fn transient(
        &mut self,
        category: &str,
        fingerprint: &str,
        ask: impl FnOnce() -> PyResult<bool>,
        error: &mut Option<PyErr>,
    ) -> bool {
        let key = (category.to_string(), fingerprint.to_string());
        if let Some(&known) = self.transient.get(&key) {
            return known;
        }
        let found = keep(error, ask()).unwrap_or(false);
        if self.transient.len() >= MAX_DERIVED {
            self.transient.clear();
        }
        self.transient.insert(key, found);
        found
    }
}

/// The value, or None with the first error kept (the call is then given up).
fn keep<T>(error: &mut Option<PyErr>, result: PyResult<T>) -> Option<T> {
    result.map_err(|err| error.get_or_insert(err)).ok()
}

/// `Host` for one call: the Python objects, with the GIL.
struct PyHost<'a, 'py> {
    py: Python<'py>,
    calls: &'a mut Python_,
    answers: &'a mut Answers,
    error: Option<PyErr>,
    called: u64, // Python detector calls
}

impl PyHost<'_, '_> {
    fn keep<T>(&mut self, result: PyResult<T>) -> Option<T> {
        keep(&mut self.error, result)
    }

    fn holder(&mut self, attempt_id: &str, attempt: &Attempt) -> PyResult<Bound<'_, PyAny>> {
        let py = self.py;
        let holder = match self.calls.holders.get(attempt_id) {
            Some(holder) => holder.bind(py).clone(),
            None => {
                let holder = self.calls.holder.bind(py).call0()?;
                self.calls
                    .holders
                    .insert(attempt_id.to_string(), holder.clone().unbind());
                holder
            }
        };
        holder.setattr("executor", attempt.executor.as_deref())?;
        holder.setattr("task_id", attempt.task_id.as_deref())?;
        holder.setattr("last_time", attempt.last_time)?;
        holder.setattr("last_id", attempt.last_id.as_str())?;
        holder.setattr("idle_alerted", attempt.idle_alerted)?;
        holder.setattr("untimed", attempt.untimed)?;
        holder.setattr("heard", attempt.heard)?;
        Ok(holder)
    }

    fn finding(&self, found: Bound<'_, PyAny>) -> PyResult<Option<Finding>> {
        if found.is_none() {
            return Ok(None);
        }
        let text = |name: &str| -> PyResult<String> { found.getattr(name)?.extract() };
        let trigger = found.getattr("trigger")?;
        Ok(Some(Finding {
            kind: text("type")?.into(),
            subject: text("subject")?,
            severity: text("severity")?.into(),
            recommendation: text("recommendation")?.into(),
            evidence: Vec::new(),
            trigger: if trigger.is_none() {
                None
            } else {
                Some(trigger.extract()?)
            },
            cooldown: found.getattr("cooldown")?.is_truthy()?,
            python_evidence: Some(found.getattr("evidence")?.unbind()),
        }))
    }

    fn python_event(
        &mut self,
        detector: usize,
        attempt_id: &str,
        attempt: &mut Attempt,
        line: &[u8],
        t: f64,
    ) -> PyResult<Option<Finding>> {
        let py = self.py;
        let event = self
            .calls
            .decode
            .bind(py)
            .call1((PyBytes::new(py, line),))?;
        if event.is_none() {
            return Ok(None);
        }
        let kind: String = event.getattr("event_type")?.extract()?;
        let Some(handler) = self.calls.detectors[detector]
            .handlers
            .get(&kind)
            .map(|h| h.clone_ref(py))
        else {
            return Ok(None);
        };
        let holder = self.holder(attempt_id, attempt)?.unbind();
        let found = handler.bind(py).call1((event, t, holder.bind(py)))?;
        self.finding(found)
    }

    fn python_clock(
        &mut self,
        detector: usize,
        attempt_id: &str,
        attempt: &mut Attempt,
        now: f64,
    ) -> PyResult<Option<Finding>> {
        let py = self.py;
        let Some(on_clock) = self.calls.detectors[detector]
            .on_clock
            .as_ref()
            .map(|c| c.clone_ref(py))
        else {
            return Ok(None);
        };
        let holder = self.holder(attempt_id, attempt)?.unbind();
        let found = on_clock.bind(py).call1((holder.bind(py), now))?;
        attempt.idle_alerted = holder.bind(py).getattr("idle_alerted")?.is_truthy()?;
        self.finding(found)
    }
}

impl detectors::Oracle for PyHost<'_, '_> {
    fn derive(&mut self, message: &str) -> Option<(String, String)> {
        let (py, calls) = (self.py, &*self.calls);
        let ask = || calls.analyze(py, message);
        self.answers.derive(message, ask, &mut self.error)
    }

    fn transient(&mut self, category: &str, fingerprint: &str) -> bool {
        let (py, calls) = (self.py, &*self.calls);
        let ask = || calls.is_transient(py, category, fingerprint);
        self.answers
            .transient(category, fingerprint, ask, &mut self.error)
    }
}

/// `Host` for one thread of a batch read without the GIL: what its answers hold is answered
/// at once; for anything else it takes the GIL and asks through a `PyHost` (the Python side
/// is shared by the threads, behind a lock).
struct Detached<'a> {
    python: &'a Mutex<&'a mut Python_>,
    answers: &'a mut Answers,
    error: Option<PyErr>,
    called: u64,
}

impl Detached<'_> {
    fn with<T>(&mut self, ask: impl FnOnce(&mut PyHost) -> T) -> T {
        // the lock before the GIL: Python may let the GIL go while the lock is held, and the
        // other thread must not then hold the GIL while it waits for the lock
        let mut calls = self.python.lock().unwrap_or_else(PoisonError::into_inner);
        Python::attach(|py| {
            let mut host = PyHost {
                py,
                calls: &mut calls,
                answers: self.answers,
                error: None,
                called: 0,
            };
            let answer = ask(&mut host);
            self.called += host.called;
            if let Some(err) = host.error {
                self.error.get_or_insert(err);
            }
            answer
        })
    }
}

impl detectors::Oracle for Detached<'_> {
    fn derive(&mut self, message: &str) -> Option<(String, String)> {
        match self.answers.derived.get(message) {
            Some(known) => known.clone(),
            None => self.with(|host| host.derive(message)),
        }
    }

    fn transient(&mut self, category: &str, fingerprint: &str) -> bool {
        let key = (category.to_string(), fingerprint.to_string());
        match self.answers.transient.get(&key) {
            Some(&known) => known,
            None => self.with(|host| host.transient(category, fingerprint)),
        }
    }
}

impl Host for Detached<'_> {
    fn odd_time(&mut self, timestamp: &str) -> Option<f64> {
        self.with(|host| host.odd_time(timestamp))
    }

    fn on_event(
        &mut self,
        detector: usize,
        attempt_id: &str,
        attempt: &mut Attempt,
        line: &[u8],
        t: f64,
    ) -> Option<Finding> {
        self.with(|host| host.on_event(detector, attempt_id, attempt, line, t))
    }

    fn on_clock(
        &mut self,
        detector: usize,
        attempt_id: &str,
        attempt: &mut Attempt,
        now: f64,
    ) -> Option<Finding> {
        self.with(|host| host.on_clock(detector, attempt_id, attempt, now))
    }

    fn ended(&mut self, attempt_id: &str) -> bool {
        self.with(|host| host.ended(attempt_id))
    }

    fn forget(&mut self, attempt_id: &str) {
        self.with(|host| host.forget(attempt_id))
    }

    fn failed(&self) -> bool {
        self.error.is_some()
    }
}

impl Host for PyHost<'_, '_> {
    fn odd_time(&mut self, timestamp: &str) -> Option<f64> {
        let result = self.calls.odd_time(self.py, timestamp);
        self.keep(result).flatten()
    }

    fn on_event(
        &mut self,
        detector: usize,
        attempt_id: &str,
        attempt: &mut Attempt,
        line: &[u8],
        t: f64,
    ) -> Option<Finding> {
        self.called += 1;
        let result = self.python_event(detector, attempt_id, attempt, line, t);
        self.keep(result).flatten()
    }

    fn on_clock(
        &mut self,
        detector: usize,
        attempt_id: &str,
        attempt: &mut Attempt,
        now: f64,
    ) -> Option<Finding> {
        let result = self.python_clock(detector, attempt_id, attempt, now);
        self.keep(result).flatten()
    }

    fn ended(&mut self, attempt_id: &str) -> bool {
        let py = self.py;
        let Some(holder) = self.calls.holders.remove(attempt_id) else {
            return false;
        };
        let kept: Vec<&str> = self
            .calls
            .detectors
            .iter()
            .filter(|d| d.keep_after_end)
            .map(|d| d.name.as_str())
            .collect();
        let result = (|| -> PyResult<bool> {
            let holder = holder.bind(py);
            let slots = holder.getattr("slots")?.cast_into::<PyDict>()?;
            let kept_slots = PyDict::new(py);
            for name in kept {
                if let Some(slot) = slots.get_item(name)? {
                    kept_slots.set_item(name, slot)?;
                }
            }
            if kept_slots.is_empty() {
                return Ok(false);
            }
            let fresh = self.calls.holder.bind(py).call0()?;
            fresh.setattr("slots", kept_slots)?;
            self.calls
                .holders
                .insert(attempt_id.to_string(), fresh.unbind());
            Ok(true)
        })();
        self.keep(result).unwrap_or(false)
    }

    fn forget(&mut self, attempt_id: &str) {
        self.calls.holders.remove(attempt_id);
    }

    fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// The lines `feed` was given, held for the call: one bytes object cut at its newlines (the
/// tailer's chunk: no Python object per line), or a list of lines.
enum Held<'py> {
    Chunk(Bound<'py, PyBytes>, usize), // the bytes, and where the lines in them end
    Copied(Vec<u8>, usize), // a buffer's bytes copied (the tailer's reused one), and the same
    Lines(Vec<Bound<'py, PyBytes>>),
}

impl<'py> Held<'py> {
    /// `spare`: memory a copy may reuse (given back by `give_back`), so a chunk read into a
    /// reused buffer costs no fresh pages.
    fn of(lines: &Bound<'py, PyAny>, end: Option<usize>, spare: Vec<u8>) -> PyResult<Held<'py>> {
        let within = |len: usize| match end {
            None => Ok(len),
            Some(end) if end <= len => Ok(end),
            Some(end) => Err(PyValueError::new_err(format!(
                "end {end} is past the {len} bytes given"
            ))),
        };
        if let Ok(chunk) = lines.cast::<PyBytes>() {
            return Ok(Held::Chunk(chunk.clone(), within(chunk.as_bytes().len())?));
        }
        if let Ok(buffer) = PyBuffer::<u8>::get(lines) {
            let end = within(buffer.len_bytes())?;
            let mut copy = spare;
            copy.resize(buffer.len_bytes(), 0);
            buffer.copy_to_slice(lines.py(), &mut copy)?;
            return Ok(Held::Copied(copy, end));
        }
        if end.is_some() {
            return Err(PyValueError::new_err(
                "end is for lines given as one bytes object or buffer",
            ));
        }
        let lines: PyResult<Vec<_>> = lines
            .try_iter()?
            .map(|line| Ok(line?.cast_into::<PyBytes>()?))
            .collect();
        Ok(Held::Lines(lines?))
    }

    fn lines(&self) -> Vec<&[u8]> {
        match self {
            Held::Chunk(chunk, end) => split_lines(&chunk.as_bytes()[..*end]),
            Held::Copied(copy, end) => split_lines(&copy[..*end]),
            Held::Lines(lines) => lines.iter().map(|line| line.as_bytes()).collect(),
        }
    }

    /// The memory of a copy, for the next one.
    fn give_back(self) -> Vec<u8> {
        match self {
            Held::Copied(copy, _) => copy,
            _ => Vec::new(),
        }
    }
}

/// The lines of a chunk: each ended by a newline, the last one maybe not.
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', data) {
        lines.push(&data[start..end]);
        start = end + 1;
    }
    if start < data.len() {
        lines.push(&data[start..]);
    }
    lines
}

/// Runs `f`, turning a panic (a bug) into a Python exception the caller can handle, never an
/// abort across the FFI boundary.
fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(PyRuntimeError::new_err(format!(
            "the native watch engine failed (a bug: please report it): {why}"
        )))
    })
}

fn wall_clock() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The detection engine: per-attempt state, event-time windows, cooldowns, alert ids.
// `dict`: a caller (a test counting the wall-clock checks) may wrap a method on an instance.
// `frozen`, its state behind a lock: another thread (the heartbeat) reads the counters while
// `feed` runs, and a Python detector called from `feed` may let other threads run meanwhile.
#[pyclass(module = "agentlog._core", dict, frozen)]
pub struct Engine {
    inner: Mutex<Inner>,
    spare: Mutex<Vec<u8>>, // the memory of the last chunk copied from a buffer
    shown: Shown,
    config: Py<PyAny>,
    names: Vec<String>,
}

struct Inner {
    shards: Shards,
    python: Python_,
    answers: Vec<Answers>, // per thread reading a batch (the first: the calling thread's)
    python_bound: bool,    // the last batch called Python detectors for many of its lines
}

/// The counters, readable without the lock (updated after each call).
#[derive(Default)]
struct Shown {
    events: AtomicU64,
    malformed: AtomicU64,
    ignored: AtomicU64,
    misdated: AtomicU64,
    clock: AtomicU64, // f64 bits
    active: AtomicU64,
    parked: AtomicU64,
}

impl Engine {
    /// The state, waiting for another thread's call to end without holding the GIL meanwhile.
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Inner> {
        crate::gil::lock(py, &self.inner)
    }

    fn show(&self, inner: &Inner) {
        let shards = &inner.shards;
        let shown = &self.shown;
        let store = |to: &AtomicU64, value: u64| to.store(value, Ordering::Relaxed);
        store(&shown.events, shards.events());
        store(&shown.malformed, shards.sum(|s| s.malformed));
        store(&shown.ignored, shards.sum(|s| s.ignored));
        store(&shown.misdated, shards.sum(|s| s.misdated));
        store(&shown.clock, shards.clock().to_bits());
        store(&shown.active, shards.sum(|s| s.active.len() as u64));
        store(&shown.parked, shards.sum(|s| s.parked.len() as u64));
    }
}

impl Inner {
    fn host<'a, 'py>(
        py: Python<'py>,
        python: &'a mut Python_,
        answers: &'a mut [Answers],
    ) -> PyHost<'a, 'py> {
        PyHost {
            py,
            calls: python,
            answers: &mut answers[0],
            error: None,
            called: 0,
        }
    }

    /// A batch: on every core (without the GIL) when it is large enough and the last one
    /// called Python detectors for few of its lines (each call waits for the GIL: threads
    /// taking turns at it would be slower than one); else line after line.
    fn feed(&mut self, py: Python<'_>, lines: &[&[u8]], now: Option<f64>) -> PyResult<shards::Fed> {
        let read = self.shards.read_at(now);
        let parallel =
            self.answers.len() > 1 && lines.len() >= PARALLEL_LINES && !self.python_bound;
        let (fed, called, error) = if parallel {
            let Inner {
                shards,
                python,
                answers,
                ..
            } = self;
            let python = Mutex::new(python);
            py.detach(|| {
                let mut hosts: Vec<Detached> = answers
                    .iter_mut()
                    .map(|answers| Detached {
                        python: &python,
                        answers,
                        error: None,
                        called: 0,
                    })
                    .collect();
                let fed = shards.feed_parallel(lines, read, &mut hosts);
                let called = hosts.iter().map(|host| host.called).sum();
                (fed, called, hosts.into_iter().find_map(|host| host.error))
            })
        } else {
            let mut host = Inner::host(py, &mut self.python, &mut self.answers);
            let fed = self.shards.feed(lines, read, &mut host);
            (fed, host.called, host.error)
        };
        self.python_bound = called as usize * PYTHON_BOUND > lines.len();
        error.map_or(Ok(fed), Err)
    }

    fn alerts(&self, py: Python<'_>, raised: Vec<Raised>) -> PyResult<Vec<Py<PyAny>>> {
        let now = PyString::new(py, &time::iso(wall_clock()));
        raised
            .into_iter()
            .map(|r| self.alert(py, r, &now))
            .collect()
    }

    fn alert(
        &self,
        py: Python<'_>,
        raised: Raised,
        now: &Bound<'_, PyString>,
    ) -> PyResult<Py<PyAny>> {
        let kwargs = PyDict::new(py);
        let finding = raised.finding;
        kwargs.set_item(intern!(py, "timestamp"), now)?;
        kwargs.set_item(intern!(py, "type"), finding.kind.as_ref())?;
        kwargs.set_item(intern!(py, "attempt_id"), &raised.attempt_id)?;
        kwargs.set_item(intern!(py, "severity"), finding.severity.as_ref())?;
        kwargs.set_item(
            intern!(py, "recommendation"),
            finding.recommendation.as_ref(),
        )?;
        kwargs.set_item(intern!(py, "alert_id"), &raised.alert_id)?;
        kwargs.set_item(intern!(py, "executor"), raised.executor)?;
        kwargs.set_item(intern!(py, "task_id"), raised.task_id)?;
        kwargs.set_item(intern!(py, "event_time"), time::iso(raised.event_time))?;
        kwargs.set_item(intern!(py, "key"), &raised.key)?;
        for (name, value) in finding.evidence {
            let name = evidence_field(py, name);
            match value {
                Value::Int(i) => kwargs.set_item(name, i)?,
                Value::Float(f) => kwargs.set_item(name, f)?,
                Value::Text(s) => kwargs.set_item(name, s)?,
            }
        }
        if let Some(evidence) = finding.python_evidence {
            for (name, value) in evidence.bind(py).cast::<PyDict>()?.iter() {
                if !value.is_none() {
                    kwargs.set_item(name, value)?;
                }
            }
        }
        Ok(self.python.alert.bind(py).call((), Some(&kwargs))?.unbind())
    }
}

/// An evidence field's name as a Python string made once: a catch-up may raise thousands of
/// alerts, and their key strings, made anew, cost about as much as the rest of each alert.
fn evidence_field<'py>(py: Python<'py>, name: &str) -> Bound<'py, PyString> {
    macro_rules! made_once {
        ($($known:literal),*) => {
            match name {
                $($known => intern!(py, $known).clone(),)*
                other => PyString::new(py, other),
            }
        };
    }
    made_once!(
        "message",
        "error_fingerprint",
        "error_category",
        "occurrences",
        "tool_name",
        "idle_time_ms",
        "cost_usd",
        "threshold",
        "window_ms"
    )
}

fn config_of(config: &Bound<'_, PyAny>) -> PyResult<detectors::Config> {
    let int = |name: &str| -> PyResult<i64> { config.getattr(name)?.extract() };
    let threshold = config.getattr("cost_anomaly_threshold")?;
    Ok(detectors::Config {
        error_loop_threshold: int("error_loop_threshold")?,
        error_loop_window_ms: int("error_loop_window_ms")?,
        tool_loop_threshold: int("tool_loop_threshold")?,
        tool_loop_window_ms: int("tool_loop_window_ms")?,
        tool_repeat_threshold: int("tool_repeat_threshold")?,
        stuck_threshold_ms: int("stuck_threshold_ms")?,
        waiting_statuses: config.getattr("waiting_statuses")?.extract()?,
        cost_anomaly_threshold: threshold.extract()?,
        cost_threshold_is_int: threshold.is_instance_of::<pyo3::types::PyInt>(),
        restart_threshold: int("restart_threshold")?,
        failed_session_errors: int("failed_session_errors")?,
    })
}

fn attr<'py>(py: Python<'py>, module: &str, name: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import(module)?.getattr(name)?.unbind())
}

#[pymethods]
impl Engine {
    /// `Engine(config=None, detectors=None)`: the `WatchConfig` (default: the defaults) and
    /// the detectors to run (default: every registered one, `detectors.load_detectors`).
    #[new]
    #[pyo3(signature = (config=None, detectors=None))]
    fn new(
        py: Python<'_>,
        config: Option<Bound<'_, PyAny>>,
        detectors: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let config = match config {
            Some(config) if !config.is_none() => config,
            _ => py
                .import("agentlog.watch.config")?
                .getattr("WatchConfig")?
                .call0()?,
        };
        let detectors = match detectors {
            Some(detectors) if !detectors.is_none() => detectors,
            _ => py
                .import("agentlog.watch.detectors")?
                .getattr("load_detectors")?
                .call1((&config,))?,
        };
        let mut names = Vec::new();
        let mut python = Vec::new();
        let mut calls = Vec::new();
        for detector in detectors.try_iter()? {
            let detector = detector?;
            let name: String = detector.getattr("name")?.extract()?;
            names.push(name.clone());
            if detector
                .getattr("native")
                .is_ok_and(|n| n.is_truthy().unwrap_or(false))
            {
                continue;
            }
            let handlers = detector.call_method0("handlers")?.cast_into::<PyDict>()?;
            let mut by_kind = HashMap::default();
            for (kind, handler) in handlers.iter() {
                by_kind.insert(kind.extract::<String>()?, handler.unbind());
            }
            let idle_after: Option<f64> = detector.getattr("idle_after_s")?.extract()?;
            let keep_after_end = detector.getattr("keep_after_end")?.is_truthy()?;
            python.push(PythonDetector {
                name: name.clone(),
                event_types: by_kind.keys().cloned().collect(),
                idle_after,
                executors: detector.getattr("executors")?.extract()?,
            });
            calls.push(PythonCalls {
                handlers: by_kind,
                on_clock: idle_after
                    .map(|_| detector.getattr("on_clock"))
                    .transpose()?
                    .map(Bound::unbind),
                keep_after_end,
                name,
                state: detector.getattr("State")?.unbind(),
            });
        }
        let int = |name: &str| -> PyResult<f64> { config.getattr(name)?.extract() };
        let (settings, cooldown_ms) = (config_of(&config)?, int("alert_cooldown_ms")?);
        let tolerance_ms = int("clock_tolerance_ms")?;
        let shards = Shards::new(|| {
            let python = python.clone();
            Core::new(settings.clone(), &names, python, cooldown_ms, tolerance_ms)
        })
        .map_err(PyValueError::new_err)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(SHARDS));
        let python = Python_ {
            alert: attr(py, "agentlog.events", "Alert")?,
            malformed: attr(py, "agentlog.watch.view", "Malformed")?,
            decode: attr(py, "agentlog.watch.view", "decode")?,
            event_time: attr(py, "agentlog.watch.view", "event_time")?,
            analyze_error: attr(py, "agentlog.intel", "analyze_error")?,
            is_transient: attr(py, "agentlog.intel.taxonomy", "is_transient")?,
            holder: attr(py, "agentlog.watch.detectors", "Attempt")?,
            namespace: attr(py, "types", "SimpleNamespace")?,
            detectors: calls,
            holders: HashMap::default(),
        };
        let answers = (0..threads).map(|_| Answers::default()).collect();
        Ok(Engine {
            inner: Mutex::new(Inner {
                shards,
                python,
                answers,
                python_bound: false,
            }),
            spare: Mutex::default(),
            shown: Shown::default(),
            config: config.unbind(),
            names,
        })
    }

    /// Process raw stream lines, read at wall time `now` (when known): a list of lines, or
    /// whole lines in one bytes object (each ended by a newline; the last one may lack it),
    /// of which only the first `end` bytes when given (a chunk as read, its lines' end: the
    /// bytes after it are not read). Malformed ones are counted, handed to `on_malformed`
    /// (as `Malformed(index, reason)`, the index of the line in `lines`) and skipped.
    #[pyo3(signature = (lines, on_malformed=None, now=None, end=None))]
    fn feed(
        &self,
        py: Python<'_>,
        lines: &Bound<'_, PyAny>,
        on_malformed: Option<Bound<'_, PyAny>>,
        now: Option<f64>,
        end: Option<usize>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let spare = std::mem::take(&mut *self.spare.lock().unwrap_or_else(PoisonError::into_inner));
        let held = Held::of(lines, end, spare)?;
        let (alerts, bad, malformed) = {
            let mut guard = self.lock(py);
            let inner = &mut *guard;
            let result = guarded(|| inner.feed(py, &held.lines(), now));
            self.show(inner);
            let (raised, bad) = result?;
            (
                inner.alerts(py, raised)?,
                bad,
                inner.python.malformed.clone_ref(py),
            )
        };
        *self.spare.lock().unwrap_or_else(PoisonError::into_inner) = held.give_back();
        // told once the engine is free again: the callback may look at its counters
        if let Some(report) = on_malformed.filter(|f| !f.is_none()) {
            for (index, why) in bad {
                report.call1((malformed.bind(py).call1((index, why))?,))?;
            }
        }
        Ok(alerts)
    }

    /// The caller has read everything there is: check the open attempts against the wall
    /// clock `now` (stuck agents), and park the ones quiet for long.
    fn tick(&self, py: Python<'_>, now: f64) -> PyResult<Vec<Py<PyAny>>> {
        let mut guard = self.lock(py);
        let inner = &mut *guard;
        let raised = guarded(|| {
            let mut host = Inner::host(py, &mut inner.python, &mut inner.answers);
            let raised = inner.shards.tick(now, &mut host);
            match host.error.take() {
                Some(err) => Err(err),
                None => Ok(raised),
            }
        });
        self.show(inner);
        inner.alerts(py, raised?)
    }

    /// Take an alert already written (by an earlier run) into its attempt's cooldowns.
    fn remember(&self, py: Python<'_>, alert: &Bound<'_, PyAny>) -> PyResult<()> {
        let key: Option<String> = alert.getattr("key")?.extract()?;
        let event_time: Option<String> = alert.getattr("event_time")?.extract()?;
        let attempt_id: String = alert.getattr("attempt_id")?.extract()?;
        let (Some(key), Some(event_time)) = (key, event_time) else {
            return Ok(());
        };
        let mut guard = self.lock(py);
        let inner = &mut *guard;
        guarded(|| {
            let mut host = Inner::host(py, &mut inner.python, &mut inner.answers);
            inner
                .shards
                .of_mut(&attempt_id)
                .remember(&attempt_id, &key, &event_time, &mut host);
            host.error.take().map_or(Ok(()), Err)
        })
    }

    /// Everything needed to continue exactly here, cooldowns included: a dict the checkpoint
    /// stores (`version`, the native state as JSON, the Python detectors' slots).
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.lock(py);
        let state = guarded(|| {
            serde_json::to_string(&inner.shards.snapshot())
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))
        })?;
        let out = PyDict::new(py);
        out.set_item("version", SNAPSHOT_VERSION)?;
        out.set_item("engine", state)?;
        let python = PyDict::new(py);
        let mut ids: Vec<&String> = inner.python.holders.keys().collect();
        ids.sort_unstable();
        for id in ids {
            python.set_item(id, inner.python.holders[id].bind(py).getattr("slots")?)?;
        }
        out.set_item("python", python)?;
        Ok(out)
    }

    /// Continue from a snapshot. One written before the native engine (no `version` 3) is
    /// left out: the watch starts over from its position, and the alerts already in the
    /// journal, taken in by `remember`, keep their ids from being raised again.
    fn restore(&self, py: Python<'_>, snapshot: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(snapshot) = snapshot.cast::<PyDict>() else {
            return Ok(false);
        };
        let version: Option<u32> = match snapshot.get_item("version")? {
            Some(v) => v.extract().ok(),
            None => None,
        };
        if version != Some(SNAPSHOT_VERSION) {
            return Ok(false);
        }
        let Some(state) = snapshot.get_item("engine")? else {
            return Ok(false);
        };
        let state: String = state.extract()?;
        let parsed: Snapshot = serde_json::from_str(&state)
            .map_err(|e| PyValueError::new_err(format!("not an engine snapshot: {e}")))?;
        let mut guard = self.lock(py);
        let inner = &mut *guard;
        guarded(|| {
            inner.shards.restore(parsed);
            Ok(())
        })?;
        self.show(inner);
        inner.python.holders.clear();
        if let Some(python) = snapshot.get_item("python")? {
            let revive = py.import("agentlog.watch.detectors")?.getattr("revive")?;
            let states = PyDict::new(py);
            for calls in &inner.python.detectors {
                states.set_item(&calls.name, calls.state.bind(py))?;
            }
            for (id, slots) in python.cast::<PyDict>()?.iter() {
                let holder = revive.call1((slots, &states))?;
                inner.python.holders.insert(id.extract()?, holder.unbind());
            }
        }
        Ok(true)
    }

    /// The detectors this engine runs, by name, in the order they run.
    #[getter]
    fn detectors(&self) -> Vec<String> {
        self.names.clone()
    }

    #[getter]
    fn config(&self, py: Python<'_>) -> Py<PyAny> {
        self.config.clone_ref(py)
    }

    /// Lines between two looks for attempts to park (65,536; tests park all along with less).
    #[getter]
    fn sweep_every(&self, py: Python<'_>) -> u64 {
        self.lock(py).shards.sweep_every()
    }

    #[setter]
    fn set_sweep_every(&self, py: Python<'_>, value: u64) {
        self.lock(py).shards.set_sweep_every(value);
    }

    #[getter]
    fn events(&self) -> u64 {
        self.shown.events.load(Ordering::Relaxed)
    }

    #[getter]
    fn malformed(&self) -> u64 {
        self.shown.malformed.load(Ordering::Relaxed)
    }

    #[setter]
    fn set_malformed(&self, py: Python<'_>, value: u64) {
        let mut inner = self.lock(py);
        // the count is the shards' sum: the first holds it all
        inner.shards.set(|state| state.malformed = 0);
        inner.shards.cores[0].state.malformed = value;
        self.show(&inner);
    }

    #[getter]
    fn ignored(&self) -> u64 {
        self.shown.ignored.load(Ordering::Relaxed)
    }

    #[getter]
    fn misdated(&self) -> u64 {
        self.shown.misdated.load(Ordering::Relaxed)
    }

    /// The latest event time seen (what the heartbeat shows).
    #[getter]
    fn clock(&self) -> f64 {
        f64::from_bits(self.shown.clock.load(Ordering::Relaxed))
    }

    /// Events older than this (epoch seconds) are ignored (`--since`); None: none.
    #[getter]
    fn since(&self, py: Python<'_>) -> Option<f64> {
        self.lock(py).shards.cores[0].state.since
    }

    #[setter]
    fn set_since(&self, py: Python<'_>, value: Option<f64>) {
        self.lock(py).shards.set(|state| state.since = value);
    }

    /// The open attempts: `len()`, `in`, and `get(attempt_id)` (a read-only view of its state).
    #[getter]
    fn active(slf: Py<Self>) -> Attempts {
        Attempts {
            engine: slf,
            parked: false,
        }
    }

    /// The parked attempts (`len()` and `in`).
    #[getter]
    fn parked(slf: Py<Self>) -> Attempts {
        Attempts {
            engine: slf,
            parked: true,
        }
    }
}

/// A read-only view of the engine's active (or parked) attempts.
#[pyclass(module = "agentlog._core")]
pub struct Attempts {
    engine: Py<Engine>,
    parked: bool,
}

#[pymethods]
impl Attempts {
    fn __len__(&self) -> usize {
        let shown = &self.engine.get().shown;
        let count = if self.parked {
            &shown.parked
        } else {
            &shown.active
        };
        count.load(Ordering::Relaxed) as usize
    }

    /// The attempt ids: the active ones in the order they became active, the parked ones
    /// longest parked first.
    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let engine = self.engine.get().lock(py);
        let ids: Vec<String> = if self.parked {
            let parked = engine
                .shards
                .cores
                .iter()
                .map(|core| core.state.parked.iter());
            parked.flatten().map(|(id, _)| id.clone()).collect()
        } else {
            let active = engine.shards.active_in_order().into_iter();
            active.map(|(_, _, id)| id).collect()
        };
        Ok(PyList::new(py, ids)?.try_iter()?.into_any().unbind())
    }

    fn __contains__(&self, py: Python<'_>, attempt_id: &str) -> bool {
        let engine = self.engine.get().lock(py);
        let state = &engine.shards.of(attempt_id).state;
        if self.parked {
            state.parked.contains(attempt_id)
        } else {
            state.active.contains_key(attempt_id)
        }
    }

    /// The attempt's state as a namespace (executor, task_id, last_time, idle_alerted,
    /// cooldowns, slots: each detector's state as a namespace), or `default`.
    #[pyo3(signature = (attempt_id, default=None))]
    fn get(
        &self,
        py: Python<'_>,
        attempt_id: &str,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let engine = self.engine.get().lock(py);
        let attempt = if self.parked {
            None
        } else {
            engine.shards.of(attempt_id).state.active.get(attempt_id)
        };
        let Some(attempt) = attempt else {
            return Ok(default.unwrap_or_else(|| py.None()));
        };
        let namespace = engine.python.namespace.bind(py);
        let slots = PyDict::new(py);
        let native = serde_json::to_value(&attempt.slots)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        if let serde_json::Value::Object(map) = native {
            for (name, value) in map {
                let fields = PyDict::new(py);
                match value {
                    serde_json::Value::Object(inner) => {
                        for (field, v) in inner {
                            fields.set_item(field, to_python(py, &v)?)?;
                        }
                    }
                    other => {
                        let field = if name == "stuck_agent" {
                            "waiting_at"
                        } else {
                            "restarts"
                        };
                        fields.set_item(field, to_python(py, &other)?)?;
                    }
                }
                slots.set_item(&name, namespace.call((), Some(&fields))?)?;
            }
        }
        if let Some(holder) = engine.python.holders.get(attempt_id) {
            slots.update(
                holder
                    .bind(py)
                    .getattr("slots")?
                    .cast::<pyo3::types::PyMapping>()?,
            )?;
        }
        let fields = PyDict::new(py);
        fields.set_item("executor", attempt.executor.as_deref())?;
        fields.set_item("task_id", attempt.task_id.as_deref())?;
        fields.set_item("last_time", attempt.last_time)?;
        fields.set_item("last_id", attempt.last_id.as_str())?;
        fields.set_item("idle_alerted", attempt.idle_alerted)?;
        fields.set_item("untimed", attempt.untimed)?;
        fields.set_item("heard", attempt.heard)?;
        let cooldowns = PyDict::new(py);
        for (key, t) in &attempt.cooldowns {
            cooldowns.set_item(key, t)?;
        }
        fields.set_item("cooldowns", cooldowns)?;
        fields.set_item("slots", slots)?;
        Ok(namespace.call((), Some(&fields))?.unbind())
    }
}

fn to_python(py: Python<'_>, value: &serde_json::Value) -> PyResult<Py<PyAny>> {
    use serde_json::Value as J;
    Ok(match value {
        J::Null => py.None(),
        J::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any().unbind(),
            (_, Some(u)) => u.into_pyobject(py)?.into_any().unbind(),
            _ => n
                .as_f64()
                .unwrap_or(f64::NAN)
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        },
        J::String(s) => PyString::new(py, s).into_any().unbind(),
        J::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any().unbind()
        }
        J::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_python(py, v)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// `hashlib.blake2b(f"{key}|{trigger}".encode(), digest_size=10).hexdigest()`: the alert id.
#[pyfunction]
fn alert_id(key: &str, trigger: &str) -> String {
    alert::alert_id(key, trigger)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<Attempts>()?;
    m.add_function(wrap_pyfunction!(alert_id, m)?)?;
    m.add("NATIVE_DETECTORS", PyTuple::new(m.py(), detectors::NATIVE)?)?;
    Ok(())
}
