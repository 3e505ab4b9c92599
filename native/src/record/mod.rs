//! The recorder's per-event pipeline (`agentlog._core.Pipeline`, driven by
//! `recorder.Recorder`): every event recorded, whoever wrote it, goes through here.
//!
//! ```text
//! check -> bound the time -> stamp (time, id, sequence, elapsed, attempt context)
//! -> classify errors -> [processors added in Python] -> encode -> fit -> redact -> append
//! ```
//!
//! The hot path stays in Rust with the GIL held only for the Python objects it must touch
//! (the event dict, msgspec's encoder and schema check); the rare paths call Python, where
//! their one implementation lives: an event the fast check refuses is handed to
//! `events.validate` for the exact error, an error without a fingerprint to the error
//! taxonomy, a line over the size limit to the truncation, a line the secret scan flags to
//! the redactor's substitution, an attempt seen for the first time to `Recorder._resume`
//! (its numbering continues from its transcript on disk), a session's end to
//! `Recorder._finish` (its metrics line).

pub mod append;
pub mod ids;

use std::sync::{Mutex, MutexGuard};

use indexmap::IndexMap;
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use self::append::Appender;
use crate::engine::time::stream_timestamp;
use crate::redact::SecretScan;

const QUALITIES: [&str; 3] = ["approximate", "synthetic", "clamped"];
/// A batch is written when about this much has gathered.
const BATCH_BYTES: usize = 1 << 20;

/// What the pipeline remembers per attempt: enough to number and time its events.
struct Attempt {
    relpath: String,
    start: Option<f64>,
    next_seq: u64,
    context: Vec<(usize, Py<PyAny>)>, // (index into Calls::context, value)
}

struct State {
    sink: Sink,
    attempts: IndexMap<String, Attempt>,
    max_attempts: usize,
    clock: ids::Clock,
}

/// Where lines go: the native appender, or a Python `Writer` (`agentlog.testing`'s memory).
enum Sink {
    Native(Py<Appender>),
    Python(Py<PyAny>),
}

impl Sink {
    fn of(writer: &Bound<'_, PyAny>) -> Sink {
        match writer.cast::<Appender>() {
            Ok(appender) => Sink::Native(appender.clone().unbind()),
            Err(_) => Sink::Python(writer.clone().unbind()),
        }
    }

    fn clone_ref(&self, py: Python<'_>) -> Sink {
        match self {
            Sink::Native(appender) => Sink::Native(appender.clone_ref(py)),
            Sink::Python(writer) => Sink::Python(writer.clone_ref(py)),
        }
    }
}

/// The Python the pipeline calls.
struct Calls {
    host: Py<PyAny>,        // the Recorder: _resume, _classify_error, _fit, _finish
    processors: Py<PyList>, // added in Python, run after stamping (the slow path)
    validate: Py<PyAny>,    // events.validate: the schema's own errors
    convert: Py<PyAny>,     // msgspec.convert
    checks: Py<PyDict>,     // events._CHECKS: event type -> its schema
    normalize_end: Py<PyAny>,
    parse_time: Py<PyAny>, // events.parse_time, for times not in the stream's format
    encode: Py<PyAny>,     // events.encode
    event_error: Py<PyAny>,
    context: Vec<Py<PyString>>, // envelope fields an attempt's first event lends its later ones
    redactor: Option<(Py<PyAny>, Py<SecretScan>)>, // None: redaction off
}

/// One event ready to write.
struct Prepared<'py> {
    event: Bound<'py, PyDict>,
    line: Vec<u8>, // ending in a newline
    targets: Vec<String>,
    ends_session: bool,
}

/// Lines waiting for their write, per file, in order.
#[derive(Default)]
struct Batch {
    files: IndexMap<String, (Vec<u8>, Vec<usize>)>, // bytes, and where each line ends
    size: usize,
}

impl Batch {
    fn add(&mut self, prepared: &Prepared<'_>) {
        for relpath in &prepared.targets {
            // looked up first: an entry() would copy the path for every line
            if !self.files.contains_key(relpath) {
                self.files.insert(relpath.clone(), Default::default());
            }
            let (data, ends) = self.files.get_mut(relpath).expect("inserted above");
            data.extend_from_slice(&prepared.line);
            ends.push(data.len());
        }
        self.size += prepared.line.len();
    }
}

#[pyclass(frozen, module = "agentlog._core")]
pub struct Pipeline {
    calls: Calls,
    stream: String, // layout.STREAM
    errors: String, // layout.ERRORS
    max_bytes: usize,
    tolerance: f64,
    earliest: f64,
    state: Mutex<State>,
}

impl Pipeline {
    fn state(&self) -> PyResult<MutexGuard<'_, State>> {
        // the Recorder's lock serializes calls; never held across a call into Python
        self.state
            .try_lock()
            .map_err(|_| PyRuntimeError::new_err("the recorder's pipeline is in use"))
    }

    /// The event checked against the schema (in place), and its time when it gave one.
    fn check<'py>(&self, event: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyDict>, Option<f64>)> {
        let py = event.py();
        if let Ok(Some(checked)) = self.fast_check(event) {
            return Ok(checked);
        }
        // refused (or unusual): Python's validate raises the schema's own error, or accepts
        self.calls.validate.bind(py).call1((event,))?;
        let event = event.cast::<PyDict>()?.clone();
        let time = match event.get_item(intern!(py, "timestamp"))? {
            Some(ts) => Some(self.parse_time(&ts)?),
            None => None,
        };
        Ok((event, time))
    }

    /// The usual event, checked without leaving Rust but for msgspec's one C call; None
    /// when anything is off.
    #[allow(clippy::type_complexity)]
    fn fast_check<'py>(
        &self,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<Option<(Bound<'py, PyDict>, Option<f64>)>> {
        let py = event.py();
        let Ok(dict) = event.cast::<PyDict>() else {
            return Ok(None);
        };
        let Some(kind) = dict.get_item(intern!(py, "event_type"))? else {
            return Ok(None);
        };
        let Some(schema) = self.calls.checks.bind(py).get_item(&kind)? else {
            return Ok(None);
        };
        let attempt = dict.get_item(intern!(py, "attempt_id"))?;
        if !matches!(attempt, Some(a) if a.cast::<PyString>().is_ok_and(|s| s.to_str().is_ok_and(|s| !s.is_empty())))
        {
            return Ok(None);
        }
        let time = match dict.get_item(intern!(py, "timestamp"))? {
            None => None,
            Some(ts) => match ts.cast::<PyString>() {
                Ok(text) => match stream_timestamp(text.to_str()?) {
                    Some(t) => Some(t),
                    None => return Ok(None), // another ISO form: Python parses it
                },
                Err(_) => return Ok(None),
            },
        };
        if let Some(quality) = dict.get_item(intern!(py, "timestamp_quality"))? {
            if !quality.is_none() && !QUALITIES.iter().any(|q| quality.eq(q).unwrap_or(false)) {
                return Ok(None);
            }
        }
        let data = intern!(py, "data");
        if dict.get_item(data)?.is_none_or(|d| d.is_none()) {
            dict.set_item(data, PyDict::new(py))?;
        }
        if self.calls.convert.bind(py).call1((dict, schema)).is_err() {
            return Ok(None);
        }
        if kind.eq("session_end")? {
            let data = dict.get_item(data)?;
            self.calls.normalize_end.bind(py).call1((data,))?;
        }
        Ok(Some((dict.clone(), time)))
    }

    fn parse_time(&self, ts: &Bound<'_, PyAny>) -> PyResult<f64> {
        if let Some(t) = ts
            .cast::<PyString>()
            .ok()
            .and_then(|s| stream_timestamp(s.to_str().ok()?))
        {
            return Ok(t);
        }
        self.calls.parse_time.bind(ts.py()).call1((ts,))?.extract()
    }

    /// Validate, bound the time, stamp and classify: the event as it will be written.
    fn stamp<'py>(&self, event: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyDict>, String, u64)> {
        let py = event.py();
        let (event, given) = self.check(event)?;
        let arrival = ids::now();
        let now = match given {
            // a writer's clock is believed from 2000 to arrival + the tolerance: one machine's
            // clock hours ahead would otherwise hold its attempt out of every check of real
            // time, and 0001-01-01 (an unset clock) makes no event id. Outside, the event is
            // recorded at its arrival, flagged `clamped`, its own time kept
            Some(t) if self.earliest <= t && t <= arrival + self.tolerance => t,
            Some(_) => {
                let iso = self.state()?.clock.iso(arrival).to_owned();
                let original = event.get_item(intern!(py, "timestamp"))?;
                let t = stream_timestamp(&iso).unwrap_or(arrival);
                event.set_item(intern!(py, "timestamp"), iso)?;
                event.set_item(intern!(py, "timestamp_quality"), "clamped")?;
                event.set_item(intern!(py, "timestamp_original"), original)?;
                t
            }
            None => {
                let iso = self.state()?.clock.iso(arrival).to_owned();
                event.set_item(intern!(py, "timestamp"), iso)?;
                arrival
            }
        };
        if !event.contains(intern!(py, "event_id"))? {
            event.set_item(intern!(py, "event_id"), ids::event_id(now))?;
        }
        let attempt_id: String = event
            .get_item(intern!(py, "attempt_id"))?
            .map_or(Ok(String::new()), |a| a.extract())?;
        let sequence = self.number(&event, &attempt_id, now)?;
        if event
            .get_item(intern!(py, "event_type"))?
            .is_some_and(|k| k.eq("error").unwrap_or(false))
        {
            self.classify(&event)?;
        }
        Ok((event, attempt_id, sequence))
    }

    /// Sequence number, elapsed time and the attempt's context, from its state; returns
    /// the sequence number.
    fn number(&self, event: &Bound<'_, PyDict>, attempt_id: &str, now: f64) -> PyResult<u64> {
        let py = event.py();
        if !self.state()?.attempts.contains_key(attempt_id) {
            let resumed = self.resume(py, attempt_id)?; // Python: no lock held
            self.state()?
                .attempts
                .insert(attempt_id.to_string(), resumed);
        }
        let mut state = self.state()?;
        let attempt = state.attempts.get_mut(attempt_id).expect("inserted above");
        let start = *attempt.start.get_or_insert(now);
        let keys = &self.calls.context;
        if attempt.context.is_empty() {
            for (i, key) in keys.iter().enumerate() {
                if let Some(value) = event.get_item(key.bind(py))?.filter(|v| !v.is_none()) {
                    attempt.context.push((i, value.unbind()));
                }
            }
        }
        for (i, value) in &attempt.context {
            let key = keys[*i].bind(py);
            if !event.contains(key)? {
                event.set_item(key, value.bind(py))?;
            }
        }
        let sequence = match event
            .get_item(intern!(py, "sequence_num"))?
            .filter(|s| !s.is_none())
        {
            Some(given) => given.extract::<u64>()?,
            None => {
                event.set_item(intern!(py, "sequence_num"), attempt.next_seq)?;
                attempt.next_seq
            }
        };
        attempt.next_seq = attempt.next_seq.max(sequence) + 1;
        let elapsed = intern!(py, "elapsed_ms");
        if event.get_item(elapsed)?.is_none_or(|e| e.is_none()) {
            event.set_item(elapsed, ((now - start) * 1000.0).trunc().max(0.0) as i64)?;
        }
        Ok(sequence)
    }

    fn resume(&self, py: Python<'_>, attempt_id: &str) -> PyResult<Attempt> {
        let found = self
            .calls
            .host
            .bind(py)
            .call_method1(intern!(py, "_resume"), (attempt_id,))?;
        let (relpath, start, next_seq, context): (String, Option<f64>, u64, Bound<'_, PyDict>) =
            found.extract()?;
        let mut lent = Vec::new();
        for (i, key) in self.calls.context.iter().enumerate() {
            if let Some(value) = context.get_item(key.bind(py))?.filter(|v| !v.is_none()) {
                lent.push((i, value.unbind()));
            }
        }
        Ok(Attempt {
            relpath,
            start,
            next_seq,
            context: lent,
        })
    }

    /// Every error gets a fingerprint and a category; the caller's own always win.
    fn classify(&self, event: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = event.py();
        if let Some(data) = event.get_item(intern!(py, "data"))? {
            let has = |key: &Bound<'_, PyString>| -> PyResult<bool> {
                Ok(match data.get_item(key) {
                    Ok(value) => value.is_truthy()?,
                    Err(_) => false,
                })
            };
            if has(intern!(py, "error_fingerprint"))? && has(intern!(py, "error_category"))? {
                return Ok(());
            }
        }
        self.calls
            .host
            .bind(py)
            .call_method1(intern!(py, "_classify_error"), (event,))?;
        Ok(())
    }

    /// The event through every step, its line, and the files the line goes to.
    fn prepare<'py>(&self, event: &Bound<'py, PyAny>) -> PyResult<Prepared<'py>> {
        let py = event.py();
        let (mut event, attempt_id, sequence) = self.stamp(event)?;
        let processors = self.calls.processors.bind(py);
        for process in processors.iter() {
            event = process.call1((&event,))?.cast_into::<PyDict>()?;
        }
        let line = match self.line(&event) {
            Ok(line) => line,
            Err(err) => {
                // never written: its number goes to the next event, no hole
                if let Some(attempt) = self.state()?.attempts.get_mut(&attempt_id) {
                    if attempt.next_seq == sequence + 1 {
                        attempt.next_seq -= 1;
                    }
                }
                return Err(err);
            }
        };
        let relpath = self
            .state()?
            .attempts
            .get(&attempt_id)
            .map(|a| a.relpath.clone())
            .unwrap_or_default();
        let kind = event.get_item(intern!(py, "event_type"))?;
        let is = |name: &str| kind.as_ref().is_some_and(|k| k.eq(name).unwrap_or(false));
        let mut targets = vec![self.stream.clone(), relpath];
        if is("error") {
            targets.push(self.errors.clone());
        }
        Ok(Prepared {
            ends_session: is("session_end"),
            event,
            line,
            targets,
        })
    }

    /// Encoded, cut to the size limit, secrets redacted, with its newline.
    fn line(&self, event: &Bound<'_, PyDict>) -> PyResult<Vec<u8>> {
        let py = event.py();
        let mut encoded = self
            .calls
            .encode
            .bind(py)
            .call1((event,))?
            .cast_into::<PyBytes>()?;
        if encoded.as_bytes().len() > self.max_bytes {
            encoded = self
                .calls
                .host
                .bind(py)
                .call_method1(intern!(py, "_fit"), (event, &encoded))?
                .cast_into::<PyBytes>()?;
        }
        if let Some((redactor, scan)) = &self.calls.redactor {
            let found = scan.get().candidates(encoded.as_bytes());
            if !found.is_empty() {
                encoded = redactor
                    .bind(py)
                    .call_method1(intern!(py, "_redact"), (&encoded, found, py.None()))?
                    .cast_into::<PyBytes>()?;
            }
        }
        let bytes = encoded.as_bytes();
        let mut line = Vec::with_capacity(bytes.len() + 1);
        line.extend_from_slice(bytes);
        line.push(b'\n');
        Ok(line)
    }

    fn sink(&self, py: Python<'_>) -> PyResult<Sink> {
        Ok(self.state()?.sink.clone_ref(py))
    }

    fn write_one(&self, py: Python<'_>, prepared: &Prepared<'_>) -> PyResult<()> {
        match self.sink(py)? {
            Sink::Native(appender) => {
                let targets: Vec<&str> = prepared.targets.iter().map(String::as_str).collect();
                appender.get().write_many(py, &targets, &prepared.line, 1)
            }
            Sink::Python(writer) => {
                let targets = PyTuple::new(py, &prepared.targets)?;
                let line = PyBytes::new(py, &prepared.line);
                writer
                    .bind(py)
                    .call_method1(intern!(py, "append_many"), (targets, line))?;
                Ok(())
            }
        }
    }

    fn write_batch(&self, py: Python<'_>, batch: &mut Batch) -> PyResult<()> {
        let files = std::mem::take(&mut batch.files);
        batch.size = 0;
        if files.is_empty() {
            return Ok(());
        }
        match self.sink(py)? {
            Sink::Native(appender) => {
                for (relpath, (data, ends)) in &files {
                    appender
                        .get()
                        .write_many(py, &[relpath], data, ends.len())?;
                }
                Ok(())
            }
            Sink::Python(writer) => {
                let lines = PyDict::new(py);
                for (relpath, (data, ends)) in &files {
                    let mut start = 0;
                    let split = PyList::empty(py);
                    for &end in ends {
                        split.append(PyBytes::new(py, &data[start..end]))?;
                        start = end;
                    }
                    lines.set_item(relpath, split)?;
                }
                writer
                    .bind(py)
                    .call_method1(intern!(py, "write_batch"), (lines,))?;
                Ok(())
            }
        }
    }

    /// A session's end: its state goes, and the Recorder writes its metrics line.
    fn finish(&self, event: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = event.py();
        let attempt_id: String = event
            .get_item(intern!(py, "attempt_id"))?
            .map_or(Ok(String::new()), |a| a.extract())?;
        let relpath = self
            .state()?
            .attempts
            .shift_remove(&attempt_id)
            .map(|a| a.relpath);
        if let Some(relpath) = relpath {
            self.calls
                .host
                .bind(py)
                .call_method1(intern!(py, "_finish"), (relpath,))?;
        }
        Ok(())
    }

    /// Bound the memory of a long-running recorder whose attempts never end: the oldest
    /// is forgotten first (between writes, so its transcript is complete on disk and a
    /// later event resumes its numbering exactly).
    fn forget_oldest(&self) -> PyResult<()> {
        let mut state = self.state()?;
        let excess = state.attempts.len().saturating_sub(state.max_attempts);
        if excess > 0 {
            state.attempts.drain(..excess);
        }
        Ok(())
    }

    fn add_all(
        &self,
        py: Python<'_>,
        events: &Bound<'_, PyAny>,
        on_invalid: Option<&Bound<'_, PyAny>>,
        batch: &mut Batch,
        recorded: &Bound<'_, PyList>,
    ) -> PyResult<()> {
        let event_error = self.calls.event_error.bind(py);
        for (index, event) in events.try_iter()?.enumerate() {
            let prepared = match self.prepare(&event?) {
                Ok(prepared) => prepared,
                Err(err) => match on_invalid {
                    Some(on_invalid) if err.is_instance(py, event_error) => {
                        on_invalid.call1((index, err.value(py)))?;
                        continue;
                    }
                    _ => return Err(err),
                },
            };
            batch.add(&prepared);
            recorded.append(&prepared.event)?;
            if prepared.ends_session {
                self.write_batch(py, batch)?; // the metrics line is derived from the transcript on disk
                self.finish(&prepared.event)?;
            } else if batch.size >= BATCH_BYTES {
                self.write_batch(py, batch)?;
            }
        }
        Ok(())
    }
}

#[pymethods]
impl Pipeline {
    /// `Pipeline(recorder, writer, redactor, *, max_bytes, tolerance, earliest, stream,
    /// errors, context, processors, max_attempts)`: `writer` an `Appender` (lines written
    /// here) or any Python `Writer`; `redactor` a `redact.Redactor` or None; `context` the
    /// envelope fields an attempt's first event lends its later ones.
    #[new]
    #[pyo3(signature = (recorder, writer, redactor, *, max_bytes, tolerance, earliest, stream, errors, context, processors, max_attempts))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        recorder: Py<PyAny>,
        writer: &Bound<'_, PyAny>,
        redactor: &Bound<'_, PyAny>,
        max_bytes: usize,
        tolerance: f64,
        earliest: f64,
        stream: String,
        errors: String,
        context: Vec<Bound<'_, PyString>>,
        processors: Py<PyList>,
        max_attempts: usize,
    ) -> PyResult<Self> {
        let events = py.import("agentlog.events")?;
        let get = |name: &str| -> PyResult<Py<PyAny>> { Ok(events.getattr(name)?.unbind()) };
        let redactor = if redactor.is_none() || !redactor.getattr("enabled")?.is_truthy()? {
            None
        } else {
            let scan = redactor
                .getattr("scanner")?
                .cast_into::<SecretScan>()?
                .unbind();
            Some((redactor.clone().unbind(), scan))
        };
        Ok(Pipeline {
            calls: Calls {
                host: recorder,
                processors,
                validate: get("validate")?,
                convert: py.import("msgspec")?.getattr("convert")?.unbind(),
                checks: events.getattr("_CHECKS")?.cast_into::<PyDict>()?.unbind(),
                normalize_end: get("normalize_end")?,
                parse_time: get("parse_time")?,
                encode: get("encode")?,
                event_error: get("EventError")?,
                context: context.into_iter().map(Bound::unbind).collect(),
                redactor,
            },
            stream,
            errors,
            max_bytes,
            tolerance,
            earliest,
            state: Mutex::new(State {
                sink: Sink::of(writer),
                attempts: IndexMap::new(),
                max_attempts,
                clock: ids::Clock::default(),
            }),
        })
    }

    /// Record one event; returns it as written (the same dict, stamped).
    fn record<'py>(&self, event: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let py = event.py();
        let result = self.prepare(event).and_then(|prepared| {
            self.write_one(py, &prepared)?;
            if prepared.ends_session {
                self.finish(&prepared.event)?;
            }
            Ok(prepared.event)
        });
        self.forget_oldest()?;
        result
    }

    /// Record events in order, each file's lines of a batch in one write(); an invalid
    /// event raises `EventError` once the events before it are written, unless
    /// `on_invalid(index, error)` takes it. Returns the events recorded.
    #[pyo3(signature = (events, on_invalid = None))]
    fn record_many<'py>(
        &self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
        on_invalid: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut batch = Batch::default();
        let recorded = PyList::empty(py);
        let added = self.add_all(py, events, on_invalid, &mut batch, &recorded);
        let written = self.write_batch(py, &mut batch);
        self.forget_oldest()?;
        added.and(written).map(|()| recorded)
    }

    /// Forget an attempt (its numbering is then resumed from its transcript); its file.
    fn forget(&self, attempt_id: &str) -> PyResult<Option<String>> {
        Ok(self
            .state()?
            .attempts
            .shift_remove(attempt_id)
            .map(|a| a.relpath))
    }

    /// Where lines go from now on: an `Appender`, or any Python `Writer`.
    #[setter]
    fn set_writer(&self, writer: &Bound<'_, PyAny>) -> PyResult<()> {
        self.state()?.sink = Sink::of(writer);
        Ok(())
    }

    #[getter]
    fn get_max_attempts(&self) -> PyResult<usize> {
        Ok(self.state()?.max_attempts)
    }

    #[setter]
    fn set_max_attempts(&self, value: usize) -> PyResult<()> {
        self.state()?.max_attempts = value;
        Ok(())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.state()?.attempts.len())
    }

    fn __contains__(&self, attempt_id: &str) -> PyResult<bool> {
        Ok(self.state()?.attempts.contains_key(attempt_id))
    }
}

/// A fresh random part for event ids: Python calls it in a forked child.
#[pyfunction]
fn reseed_ids() {
    ids::reseed();
}

/// `events.new_event_id(t)`: the UUIDv7 of an event at epoch seconds `t` (default: now).
#[pyfunction]
#[pyo3(signature = (t = None))]
fn new_event_id(t: Option<f64>) -> String {
    ids::event_id(t.unwrap_or_else(ids::now))
}

/// `events.now_iso(t)`: epoch seconds `t` (default: now) as `2026-02-09T14:23:45.123Z`.
#[pyfunction]
#[pyo3(signature = (t = None))]
fn now_iso(t: Option<f64>) -> String {
    crate::engine::time::iso(t.unwrap_or_else(ids::now))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Pipeline>()?;
    m.add_class::<Appender>()?;
    m.add_function(wrap_pyfunction!(reseed_ids, m)?)?;
    m.add_function(wrap_pyfunction!(new_event_id, m)?)?;
    m.add_function(wrap_pyfunction!(now_iso, m)?)?;
    Ok(())
}
