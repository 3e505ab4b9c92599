//! The recorder's per-event pipeline (`agentlog._core.Pipeline`, driven by
//! `recorder.Recorder`): every event recorded, whoever wrote it, goes through here.
//!
//! ```text
//! check -> bound the time -> stamp (time, id, sequence, elapsed, attempt context)
//! -> classify errors -> [processors added in Python] -> encode -> fit -> redact -> append
//! ```
//!
//! The hot path stays in Rust with the GIL held only for the Python objects it must touch
//! (the event dict, msgspec's encoder and schema check); a plain event (plain.rs) is encoded
//! as given with the stamps appended, any other is stamped in a copy. The caller's dict is
//! never changed. The rare paths call Python, where
//! their one implementation lives: an event the fast check refuses is handed to
//! `events.validate` for the exact error, an error without a fingerprint to the error
//! taxonomy, a line over the size limit to the truncation, a line the secret scan flags to
//! the redactor's substitution, an attempt seen for the first time to `Recorder._resume`
//! (its numbering continues from its transcript on disk), a session's end to
//! `Recorder._finish` (its metrics line).

pub mod append;
pub mod ids;
mod lines;
mod plain;
pub mod schema;

use std::sync::{Mutex, MutexGuard};

use crate::engine::hash::IndexMap;
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use serde_json::Value;

use self::append::Appender;
use self::lines::Lines;
use self::schema::WriteSchema;
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
    context: Vec<(usize, Lent)>, // (index into Calls::context, value)
}

/// A context value an attempt's first event lends its later ones: as Python has it, and as
/// JSON when it is text (the schema types every context field `str | None`; another value,
/// from a transcript edited by hand, sends the attempt's lines down the dict path).
struct Lent {
    py: Py<PyAny>,
    json: Option<Value>,
}

impl Lent {
    fn of(value: &Bound<'_, PyAny>) -> Lent {
        let text = value
            .cast_exact::<PyString>()
            .ok()
            .and_then(|s| s.to_str().ok().map(str::to_owned));
        Lent {
            py: value.clone().unbind(),
            json: text.map(Value::String),
        }
    }
}

/// A copy of an event the pipeline may stamp and normalise: its own top level and `data`.
/// The caller's dict stays as it was (a dict reused as a template would otherwise carry its
/// first event's id and number into the next); the truncation, which cuts deeper, copies
/// what it cuts (`Recorder._fit`).
fn own<'py>(event: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
    let copy = event.copy()?;
    let data = intern!(event.py(), "data");
    if let Some(inner) = copy.get_item(data)? {
        if let Ok(inner) = inner.cast::<PyDict>() {
            copy.set_item(data, inner.copy()?)?;
        }
    }
    Ok(copy)
}

/// The context fields `source` gives (the non-null ones among `keys`), as an attempt lends
/// them: its first event's, or those its transcript starts with.
fn lent_from(keys: &[Py<PyString>], source: &Bound<'_, PyDict>) -> PyResult<Vec<(usize, Lent)>> {
    let py = source.py();
    let mut lent = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if let Some(value) = source.get_item(key.bind(py))?.filter(|v| !v.is_none()) {
            lent.push((i, Lent::of(&value)));
        }
    }
    Ok(lent)
}

/// How an event's time was bounded (see `Pipeline::bound_time`).
enum Stamp {
    Given,
    Clamped(String),
    Missing(String),
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
    host: Py<PyAny>,         // the Recorder: _resume, _classify_error, _fit, _finish
    processors: Py<PyList>,  // added in Python, run after stamping (the slow path)
    validate: Py<PyAny>,     // events.validate: the schema's own errors
    schema: Py<WriteSchema>, // events.write_schema(): its typed check, natively
    normalize_end: Py<PyAny>,
    parse_time: Py<PyAny>, // events.parse_time, for times not in the stream's format
    encode: Py<PyAny>,     // events.encode
    event_error: Py<PyAny>,
    context: Vec<Py<PyString>>, // envelope fields an attempt's first event lends its later ones
    redactor: Option<(Py<PyAny>, Py<SecretScan>)>, // None: redaction off
}

/// One event's line, ready to write.
struct Prepared {
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
    fn add(&mut self, prepared: &Prepared) {
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

    /// The event checked against the schema, as a copy the pipeline may stamp (the caller's
    /// dict is never changed), and its time when it gave one.
    fn check<'py>(&self, event: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyDict>, Option<f64>)> {
        let py = event.py();
        if let Ok(Some(checked)) = self.fast_check(event) {
            return Ok(checked);
        }
        // refused (or unusual): Python's validate raises the schema's own error, or accepts
        let event = match event.cast::<PyDict>() {
            Ok(dict) => own(dict)?.into_any(),
            Err(_) => event.clone(),
        };
        self.calls.validate.bind(py).call1((&event,))?;
        let event = event.cast_into::<PyDict>()?;
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
        let Some((kind, time)) = self.envelope(dict)? else {
            return Ok(None);
        };
        let dict = own(dict)?;
        let data = intern!(py, "data");
        if dict.get_item(data)?.is_none_or(|d| d.is_none()) {
            dict.set_item(data, PyDict::new(py))?;
        }
        let kind = kind.to_str()?;
        if self.calls.schema.get().accepts_dict(kind, &dict) != Some(true) {
            return Ok(None);
        }
        if kind == "session_end" {
            let data = dict.get_item(data)?;
            self.calls.normalize_end.bind(py).call1((data,))?;
        }
        Ok(Some((dict, time)))
    }

    /// What the fast check reads first: the event's type and the time it gave, when its
    /// type, attempt, time (in the stream's format) and time quality are as usual; else None
    /// (validate words the error, or parses another time format).
    fn envelope<'py>(
        &self,
        dict: &Bound<'py, PyDict>,
    ) -> PyResult<Option<(Bound<'py, PyString>, Option<f64>)>> {
        let py = dict.py();
        let Some(kind) = dict.get_item(intern!(py, "event_type"))? else {
            return Ok(None);
        };
        let Ok(kind) = kind.cast_into::<PyString>() else {
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
        Ok(Some((kind, time)))
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
        let now = match self.bound_time(given)? {
            (t, Stamp::Given) => t,
            (t, Stamp::Clamped(iso)) => {
                let original = event.get_item(intern!(py, "timestamp"))?;
                event.set_item(intern!(py, "timestamp"), iso)?;
                event.set_item(intern!(py, "timestamp_quality"), "clamped")?;
                event.set_item(intern!(py, "timestamp_original"), original)?;
                t
            }
            (t, Stamp::Missing(iso)) => {
                event.set_item(intern!(py, "timestamp"), iso)?;
                t
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

    /// The event's time, believed from 2000 to arrival + the tolerance: one machine's clock
    /// hours ahead would otherwise hold its attempt out of every check of real time, and
    /// 0001-01-01 (an unset clock) makes no event id. Outside, the event is recorded at its
    /// arrival, flagged `clamped`, its own time kept.
    fn bound_time(&self, given: Option<f64>) -> PyResult<(f64, Stamp)> {
        let arrival = ids::now();
        if let Some(t) = given.filter(|t| self.earliest <= *t && *t <= arrival + self.tolerance) {
            return Ok((t, Stamp::Given));
        }
        let iso = self.state()?.clock.iso(arrival).to_owned();
        Ok(match given {
            Some(_) => (
                stream_timestamp(&iso).unwrap_or(arrival),
                Stamp::Clamped(iso),
            ),
            None => (arrival, Stamp::Missing(iso)),
        })
    }

    /// The attempt's state, resumed from its transcript when it is not remembered.
    fn attempt(&self, py: Python<'_>, attempt_id: &str) -> PyResult<MutexGuard<'_, State>> {
        if !self.state()?.attempts.contains_key(attempt_id) {
            let resumed = self.resume(py, attempt_id)?; // Python: no lock held
            self.state()?
                .attempts
                .insert(attempt_id.to_string(), resumed);
        }
        self.state()
    }

    /// Sequence number, elapsed time and the attempt's context, from its state; returns
    /// the sequence number.
    fn number(&self, event: &Bound<'_, PyDict>, attempt_id: &str, now: f64) -> PyResult<u64> {
        let py = event.py();
        let mut state = self.attempt(py, attempt_id)?;
        let attempt = state.attempts.get_mut(attempt_id).expect("resumed");
        let keys = &self.calls.context;
        if attempt.context.is_empty() {
            attempt.context = lent_from(keys, event)?;
        }
        for (i, lent) in &attempt.context {
            let key = keys[*i].bind(py);
            if !event.contains(key)? {
                event.set_item(key, lent.py.bind(py))?;
            }
        }
        let given = event
            .get_item(intern!(py, "sequence_num"))?
            .filter(|s| !s.is_none())
            .map(|s| s.extract::<u64>())
            .transpose()?;
        let (sequence, elapsed) = advance(attempt, given, now);
        if given.is_none() {
            event.set_item(intern!(py, "sequence_num"), sequence)?;
        }
        let key = intern!(py, "elapsed_ms");
        if event.get_item(key)?.is_none_or(|e| e.is_none()) {
            event.set_item(key, elapsed)?;
        }
        Ok(sequence)
    }

    /// A number taken by an event that was never written goes to the next one: no hole.
    fn unnumber(&self, attempt_id: &str, sequence: u64) -> PyResult<()> {
        if let Some(attempt) = self.state()?.attempts.get_mut(attempt_id) {
            if attempt.next_seq == sequence + 1 {
                attempt.next_seq -= 1;
            }
        }
        Ok(())
    }

    fn resume(&self, py: Python<'_>, attempt_id: &str) -> PyResult<Attempt> {
        let found = self
            .calls
            .host
            .bind(py)
            .call_method1(intern!(py, "_resume"), (attempt_id,))?;
        let (relpath, start, next_seq, context): (String, Option<f64>, u64, Bound<'_, PyDict>) =
            found.extract()?;
        Ok(Attempt {
            relpath,
            start,
            next_seq,
            context: lent_from(&self.calls.context, &context)?,
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
    fn prepare<'py>(&self, event: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyDict>, Prepared)> {
        let py = event.py();
        let (mut event, attempt_id, sequence) = self.stamp(event)?;
        let processors = self.calls.processors.bind(py);
        for process in processors.iter() {
            event = process.call1((&event,))?.cast_into::<PyDict>()?;
        }
        let encoded = self.calls.encode.bind(py).call1((&event,));
        let line = encoded.and_then(|encoded| {
            let encoded = encoded.cast_into::<PyBytes>()?;
            self.fit_and_redact(py, encoded.as_bytes().to_vec(), || Ok(event.clone()))
        });
        let line = match line {
            Ok(line) => line,
            Err(err) => {
                self.unnumber(&attempt_id, sequence)?;
                return Err(err);
            }
        };
        let kind = event.get_item(intern!(py, "event_type"))?;
        let is = |name: &str| kind.as_ref().is_some_and(|k| k.eq(name).unwrap_or(false));
        let mut targets = self.targets(&attempt_id)?;
        if is("error") {
            targets.push(self.errors.clone());
        }
        let prepared = Prepared {
            ends_session: is("session_end"),
            line,
            targets,
        };
        Ok((event, prepared))
    }

    /// The event through the plain path when it is plain, else through `prepare`.
    fn plain_or_prepare<'py>(
        &self,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyDict>, Prepared)> {
        match self.plain_event(event)? {
            Some(done) => Ok(done),
            None => self.prepare(event),
        }
    }

    /// The files every line of an attempt goes to: the stream and its transcript.
    fn targets(&self, attempt_id: &str) -> PyResult<Vec<String>> {
        let relpath = self
            .state()?
            .attempts
            .get(attempt_id)
            .map(|a| a.relpath.clone())
            .unwrap_or_default();
        Ok(vec![self.stream.clone(), relpath])
    }

    /// An encoded event cut to the size limit, secrets redacted, with its newline; `event`
    /// gives the event itself, which only the (rare) truncation needs.
    fn fit_and_redact<'py>(
        &self,
        py: Python<'py>,
        mut line: Vec<u8>,
        event: impl FnOnce() -> PyResult<Bound<'py, PyDict>>,
    ) -> PyResult<Vec<u8>> {
        if line.len() > self.max_bytes {
            let fitted = self
                .calls
                .host
                .bind(py)
                .call_method1(intern!(py, "_fit"), (event()?, PyBytes::new(py, &line)))?;
            line = fitted.cast_into::<PyBytes>()?.as_bytes().to_vec();
        }
        if let Some((redactor, scan)) = &self.calls.redactor {
            let found = scan.get().candidates(&line);
            if !found.is_empty() {
                let redacted = redactor.bind(py).call_method1(
                    intern!(py, "_redact"),
                    (PyBytes::new(py, &line), found, py.None()),
                )?;
                line = redacted.cast_into::<PyBytes>()?.as_bytes().to_vec();
            }
        }
        line.push(b'\n');
        Ok(line)
    }

    fn sink(&self, py: Python<'_>) -> PyResult<Sink> {
        Ok(self.state()?.sink.clone_ref(py))
    }

    fn write_one(&self, py: Python<'_>, prepared: &Prepared) -> PyResult<()> {
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
        self.end_attempt(py, &attempt_id)
    }

    fn end_attempt(&self, py: Python<'_>, attempt_id: &str) -> PyResult<()> {
        let relpath = self
            .state()?
            .attempts
            .shift_remove(attempt_id)
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

    /// A prepared line into the batch, written when the batch is full or the line ends its
    /// session (whose metrics line is derived from the transcript on disk).
    fn add_to(
        &self,
        py: Python<'_>,
        batch: &mut Batch,
        prepared: &Prepared,
        event: &Bound<'_, PyDict>,
    ) -> PyResult<()> {
        batch.add(prepared);
        if prepared.ends_session {
            self.write_batch(py, batch)?;
            self.finish(event)?;
        } else if batch.size >= BATCH_BYTES {
            self.write_batch(py, batch)?;
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
            let event = event?;
            let (event, prepared) = match self.plain_or_prepare(&event) {
                Ok(prepared) => prepared,
                Err(err) => match on_invalid {
                    Some(on_invalid) if err.is_instance(py, event_error) => {
                        on_invalid.call1((index, err.value(py)))?;
                        continue;
                    }
                    _ => return Err(err),
                },
            };
            recorded.append(&event)?;
            self.add_to(py, batch, &prepared, &event)?;
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
                schema: events
                    .call_method0("write_schema")?
                    .cast_into::<WriteSchema>()?
                    .unbind(),
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
                attempts: IndexMap::default(),
                max_attempts,
                clock: ids::Clock::default(),
            }),
        })
    }

    /// Record one event; returns it as written (a stamped copy: the dict given is not changed).
    fn record<'py>(&self, event: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let py = event.py();
        let result = self.plain_or_prepare(event).and_then(|(event, prepared)| {
            self.write_one(py, &prepared)?;
            if prepared.ends_session {
                self.finish(&event)?;
            }
            Ok(event)
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

    /// Record decoded `Lines` in order, as `record_many` records events; a line that is not
    /// an event goes to `on_invalid(number, EventError)`. Returns how many were recorded.
    fn record_lines(
        &self,
        py: Python<'_>,
        lines: &Lines,
        on_invalid: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let mut batch = Batch::default();
        let added = self.add_lines(py, lines, on_invalid, &mut batch);
        let written = self.write_batch(py, &mut batch);
        self.forget_oldest()?;
        let recorded = added?;
        written.map(|()| recorded)
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

/// The attempt's next sequence number (or the one the event gave) and the event's elapsed
/// milliseconds since the attempt's start.
fn advance(attempt: &mut Attempt, given: Option<u64>, now: f64) -> (u64, i64) {
    let start = *attempt.start.get_or_insert(now);
    let sequence = given.unwrap_or(attempt.next_seq);
    attempt.next_seq = attempt.next_seq.max(sequence) + 1;
    (sequence, ((now - start) * 1000.0).trunc().max(0.0) as i64)
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
    m.add_class::<WriteSchema>()?;
    m.add_class::<Lines>()?;
    m.add_function(wrap_pyfunction!(reseed_ids, m)?)?;
    m.add_function(wrap_pyfunction!(new_event_id, m)?)?;
    m.add_function(wrap_pyfunction!(now_iso, m)?)?;
    Ok(())
}
