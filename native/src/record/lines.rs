//! JSON lines recorded as they came (`agentlog emit -`): decoded once by the shared reader,
//! checked, stamped and encoded without becoming Python objects.
//!
//! A line takes the dict path (`Pipeline::prepare`, the one every other event takes) when
//! anything about it needs Python: an error (its fingerprint) or a session's end (its status,
//! its metrics line), a field the native check refuses (validate words the error), a time not
//! in the stream's format, processors added in Python, an attempt lending context that is not
//! text. Either way the attempt's numbering is the pipeline's one state.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{advance, ids, Attempt, Batch, Pipeline, Prepared, Stamp, QUALITIES};
use crate::engine::time::stream_timestamp;
use crate::read::{blank, decode_guarded, Builder, Schema};

/// A line of the chunk: its number and where it is.
#[derive(Clone, Copy)]
struct Span {
    number: u64,
    start: usize,
    end: usize,
}

/// `Lines(data, first)`: the whole lines of `data` (what follows the last newline is left
/// out), numbered from `first`, blank ones skipped. Each is decoded only when it is recorded
/// (by `Pipeline.record_lines`, once), so its objects are freed before the next line's are
/// made: holding a chunk's decoded lines at once cost more than decoding them.
#[pyclass(frozen, module = "agentlog._core")]
pub struct Lines {
    data: Arc<[u8]>,
    spans: Mutex<Vec<Span>>,
    attempts: Vec<String>, // filled by `runs`
}

impl Lines {
    fn take(&self) -> PyResult<Vec<Span>> {
        Ok(std::mem::take(&mut *self.spans()?))
    }

    fn spans(&self) -> PyResult<std::sync::MutexGuard<'_, Vec<Span>>> {
        self.spans
            .lock()
            .map_err(|_| PyRuntimeError::new_err("lines poisoned"))
    }

    fn line(&self, span: Span) -> &[u8] {
        &self.data[span.start..span.end]
    }
}

/// The attempt a line names, read without decoding the rest (a line the quick read cannot
/// take, e.g. one with the key twice, is decoded whole, as recording will read it).
fn attempt_of(line: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Named<'a> {
        #[serde(borrow, default)]
        attempt_id: Option<Cow<'a, str>>,
    }
    let line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
    let id = match serde_json::from_slice::<Named<'_>>(line) {
        Ok(named) => named.attempt_id.map(Cow::into_owned),
        Err(_) => match decode_guarded(line, Schema::Event).ok()?.get("attempt_id") {
            Some(Value::String(id)) => Some(id.clone()),
            _ => None,
        },
    };
    id.filter(|id| !id.is_empty())
}

#[pymethods]
impl Lines {
    #[new]
    fn new(data: &[u8], first: u64) -> Lines {
        let mut spans = Vec::new();
        let mut start = 0;
        for (number, line) in (first..).zip(data.split_inclusive(|b| *b == b'\n')) {
            let end = start + line.len();
            if line.ends_with(b"\n") && !blank(line) {
                spans.push(Span { number, start, end });
            }
            start = end;
        }
        Lines {
            data: Arc::from(data),
            spans: Mutex::new(spans),
            attempts: Vec::new(),
        }
    }

    /// Consecutive runs of these lines naming at most `limit` attempts each (locked mode holds
    /// a run's locks at once); the lines are moved into them.
    fn runs(&self, limit: usize) -> PyResult<Vec<Lines>> {
        let mut runs: Vec<(Vec<Span>, Vec<String>)> = vec![Default::default()];
        for span in self.take()? {
            if let Some(id) = attempt_of(self.line(span)) {
                let (_, named) = runs.last().expect("one at least");
                if !named.contains(&id) {
                    if named.len() >= limit.max(1) {
                        runs.push(Default::default());
                    }
                    runs.last_mut().expect("one at least").1.push(id);
                }
            }
            runs.last_mut().expect("one at least").0.push(span);
        }
        Ok(runs
            .into_iter()
            .filter(|(spans, _)| !spans.is_empty())
            .map(|(spans, mut attempts)| {
                attempts.sort_unstable();
                Lines {
                    data: self.data.clone(),
                    spans: Mutex::new(spans),
                    attempts,
                }
            })
            .collect())
    }

    /// The attempts a run's lines name, sorted, each once.
    #[getter]
    fn attempts(&self) -> Vec<String> {
        self.attempts.clone()
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.spans()?.len())
    }
}

impl Pipeline {
    /// Record the lines in order into `batch`; a line that is not an event goes to
    /// `on_invalid(number, EventError)`. Returns how many were recorded.
    pub(super) fn add_lines(
        &self,
        py: Python<'_>,
        lines: &Lines,
        on_invalid: &Bound<'_, PyAny>,
        batch: &mut Batch,
    ) -> PyResult<usize> {
        let event_error = self.calls.event_error.bind(py);
        let mut build = Builder::new(py);
        let mut recorded = 0;
        for span in lines.take()? {
            let mut event = match decode_guarded(lines.line(span), Schema::Event) {
                Ok(event) => event,
                Err(bad) => {
                    on_invalid.call1((span.number, event_error.call1((bad.field, bad.reason))?))?;
                    continue;
                }
            };
            let added = match self.fast_line(py, &mut event, &mut build) {
                Ok(Some(prepared)) => {
                    batch.add(&prepared);
                    Ok(())
                }
                Ok(None) => build.dict(&event).and_then(|dict| {
                    let (dict, prepared) = self.prepare(dict.as_any())?;
                    self.add_to(py, batch, &prepared, &dict)
                }),
                Err(err) => Err(err),
            };
            match added {
                Ok(()) => recorded += 1,
                Err(err) if err.is_instance(py, event_error) => {
                    on_invalid.call1((span.number, err.value(py)))?;
                }
                Err(err) => return Err(err),
            }
            if batch.size >= super::BATCH_BYTES {
                self.write_batch(py, batch)?;
            }
        }
        Ok(recorded)
    }

    /// The line stamped and encoded without Python objects; None (the event untouched) when
    /// it needs the dict path.
    fn fast_line(
        &self,
        py: Python<'_>,
        event: &mut Map<String, Value>,
        build: &mut Builder<'_>,
    ) -> PyResult<Option<Prepared>> {
        let Some((attempt_id, given)) = self.plain(py, event)? else {
            return Ok(None);
        };
        let (now, stamp) = self.bound_time(given)?;
        let keys = &self.calls.context;
        let mut state = self.attempt(py, &attempt_id)?;
        let attempt = state.attempts.get_mut(&attempt_id).expect("resumed");
        let foreign = |(i, lent): &(usize, super::Lent)| {
            lent.json.is_none() && !event.contains_key(keys[*i].bind(py).to_str().unwrap_or(""))
        };
        if attempt.context.iter().any(foreign) {
            return Ok(None);
        }
        // from here on the event is stamped: it stays on this path
        match event.get_mut("data") {
            None => {
                event.insert("data".into(), Value::Object(Map::new()));
            }
            Some(data @ Value::Null) => *data = Value::Object(Map::new()),
            Some(_) => {}
        }
        match stamp {
            Stamp::Given => {}
            Stamp::Clamped(iso) => {
                let original = event.insert("timestamp".into(), Value::String(iso));
                event.insert("timestamp_quality".into(), "clamped".into());
                event.insert("timestamp_original".into(), original.unwrap_or(Value::Null));
            }
            Stamp::Missing(iso) => {
                event.insert("timestamp".into(), Value::String(iso));
            }
        }
        if !event.contains_key("event_id") {
            event.insert("event_id".into(), ids::event_id(now).into());
        }
        let sequence = number_line(py, keys, event, attempt, now, build)?;
        let targets = vec![self.stream.clone(), attempt.relpath.clone()];
        drop(state); // the fit and the redaction may call Python
        let encoded =
            serde_json::to_vec(&*event).map_err(|e| PyRuntimeError::new_err(e.to_string()));
        let line = encoded.and_then(|line| self.fit_and_redact(py, line, || build.dict(event)));
        match line {
            Ok(line) => Ok(Some(Prepared {
                line,
                targets,
                ends_session: false,
            })),
            Err(err) => {
                self.unnumber(&attempt_id, sequence)?;
                Err(err)
            }
        }
    }

    /// The attempt id and given time of an event that needs nothing of Python, else None.
    fn plain(
        &self,
        py: Python<'_>,
        event: &Map<String, Value>,
    ) -> PyResult<Option<(String, Option<f64>)>> {
        if !self.calls.processors.bind(py).is_empty() {
            return Ok(None);
        }
        let Some(Value::String(kind)) = event.get("event_type") else {
            return Ok(None);
        };
        if kind == "error" || kind == "session_end" {
            return Ok(None);
        }
        let attempt_id = match event.get("attempt_id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return Ok(None),
        };
        let given = match event.get("timestamp") {
            None => None,
            Some(Value::String(ts)) => match stream_timestamp(ts) {
                Some(t) => Some(t),
                None => return Ok(None), // another ISO form: Python parses it
            },
            Some(_) => return Ok(None),
        };
        let quality_ok = match event.get("timestamp_quality") {
            None | Some(Value::Null) => true,
            Some(Value::String(q)) => QUALITIES.contains(&q.as_str()),
            Some(_) => false,
        };
        let fits = self.calls.schema.get().accepts_map(kind, event) == Some(true);
        Ok((quality_ok && fits).then_some((attempt_id, given)))
    }
}

/// `Pipeline::number` for a decoded line, its attempt's state at hand.
fn number_line(
    py: Python<'_>,
    keys: &[Py<PyString>],
    event: &mut Map<String, Value>,
    attempt: &mut Attempt,
    now: f64,
    build: &mut Builder<'_>,
) -> PyResult<u64> {
    if attempt.context.is_empty() {
        for (i, key) in keys.iter().enumerate() {
            match event.get(key.bind(py).to_str()?) {
                None | Some(Value::Null) => {}
                Some(value) => attempt
                    .context
                    .push((i, super::Lent::of(&build.value(value)?))),
            }
        }
    }
    for (i, lent) in &attempt.context {
        let key = keys[*i].bind(py).to_str()?;
        if let (false, Some(json)) = (event.contains_key(key), &lent.json) {
            event.insert(key.to_owned(), json.clone());
        }
    }
    let given = match event.get("sequence_num") {
        Some(Value::Number(n)) => n.as_u64(), // the schema took it: an int in 0..=2^53
        _ => None,
    };
    let (sequence, elapsed) = advance(attempt, given, now);
    if given.is_none() {
        event.insert("sequence_num".into(), sequence.into());
    }
    if event.get("elapsed_ms").is_none_or(Value::is_null) {
        event.insert("elapsed_ms".into(), elapsed.into());
    }
    Ok(sequence)
}
