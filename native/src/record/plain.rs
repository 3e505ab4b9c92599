//! The plain event, recorded without copying it first or encoding it twice.
//!
//! Most events are plain: no processor added in Python, not an error or a session's end,
//! a time (if any) in the stream's format and within bounds, and no stamped field given as
//! null. For those, msgspec encodes the caller's dict as it is, and the stamps the pipeline
//! adds (time, event id, the attempt's context, sequence number, elapsed time) are appended
//! to that line. The bytes are the ones encoding the stamped dict gives: a dict keeps its
//! keys in insertion order, and a stamp only ever adds a key. The event returned (as
//! written) is a stamped copy; the caller's dict is never changed. Any other event takes
//! `Pipeline::prepare`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use serde_json::Value;

use super::{advance, ids, Pipeline, Prepared, Stamp};

/// Bytes reserved past msgspec's line: the stamps (~140) and the newline, in one allocation.
const ROOM: usize = 192;

/// A field the pipeline adds to a plain event (in the order the dict path adds them): its
/// key, and its value as JSON and as Python.
enum Added<'py> {
    Text(Bound<'py, PyString>, String), // ASCII that JSON writes as it is: a time, an id
    Lent(Bound<'py, PyString>, Value, Bound<'py, PyAny>), // a context field
    Number(Bound<'py, PyString>, i64),
}

impl Pipeline {
    /// The event's line and the files it goes to, with the stamped copy returned as
    /// written; None (nothing changed, no number taken) when it is not plain.
    pub(super) fn plain_event<'py>(
        &self,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<Option<(Bound<'py, PyDict>, Prepared)>> {
        let py = event.py();
        if !self.calls.processors.bind(py).is_empty() {
            return Ok(None);
        }
        let Ok(dict) = event.cast::<PyDict>() else {
            return Ok(None);
        };
        let Some((kind, given)) = self.envelope(dict)? else {
            return Ok(None);
        };
        let kind = kind.to_str()?;
        if kind == "error" || kind == "session_end" {
            return Ok(None);
        }
        if dict
            .get_item(intern!(py, "data"))?
            .is_none_or(|d| d.is_none())
        {
            return Ok(None); // the dict path adds `data` first
        }
        if self.calls.schema.get().accepts_dict(kind, dict) != Some(true) {
            return Ok(None);
        }
        let Some((attempt_id, added, sequence)) = self.stamps(dict, given)? else {
            return Ok(None);
        };
        let copy = dict.copy()?;
        let encoded = self.calls.encode.bind(py).call1((dict,));
        let line = encoded.and_then(|encoded| {
            let encoded = encoded.cast_into::<PyBytes>()?;
            let mut line = Vec::with_capacity(encoded.as_bytes().len() + ROOM);
            line.extend_from_slice(encoded.as_bytes());
            Self::extend(&mut line, &copy, &added)?;
            self.fit_and_redact(py, line, || Ok(copy.clone()))
        });
        let line = match line {
            Ok(line) => line,
            Err(err) => {
                self.unnumber(&attempt_id, sequence)?;
                return Err(err);
            }
        };
        let targets = self.targets(&attempt_id)?;
        let prepared = Prepared {
            line,
            targets,
            ends_session: false,
        };
        Ok(Some((copy, prepared)))
    }

    /// The fields to add and the sequence number taken (the attempt's state advanced), or
    /// None, nothing taken, when the event needs the dict path.
    #[allow(clippy::type_complexity)]
    fn stamps<'py>(
        &self,
        dict: &Bound<'py, PyDict>,
        given: Option<f64>,
    ) -> PyResult<Option<(String, Vec<Added<'py>>, u64)>> {
        let py = dict.py();
        let mut added = Vec::new();
        let (now, stamp) = self.bound_time(given)?;
        match stamp {
            Stamp::Given => {}
            Stamp::Missing(iso) => added.push(Added::Text(intern!(py, "timestamp").clone(), iso)),
            Stamp::Clamped(_) => return Ok(None), // rewrites the time in place
        }
        let event_id = intern!(py, "event_id");
        if !dict.contains(event_id)? {
            added.push(Added::Text(event_id.clone(), ids::event_id(now)));
        }
        let sequence = match dict.get_item(intern!(py, "sequence_num"))? {
            None => None,
            Some(s) if s.is_none() => return Ok(None), // set in place
            Some(s) => Some(s.extract::<u64>()?),
        };
        let elapsed_given = match dict.get_item(intern!(py, "elapsed_ms"))? {
            Some(e) if e.is_none() => return Ok(None), // set in place
            given => given.is_some(),
        };
        let attempt_id: String = dict
            .get_item(intern!(py, "attempt_id"))?
            .map_or(Ok(String::new()), |a| a.extract())?;
        let keys = &self.calls.context;
        let mut state = self.attempt(py, &attempt_id)?;
        let attempt = state.attempts.get_mut(&attempt_id).expect("resumed");
        if attempt.context.is_empty() {
            attempt.context = super::lent_from(keys, dict)?;
        }
        for (i, lent) in &attempt.context {
            let key = keys[*i].bind(py);
            if !dict.contains(key)? {
                match &lent.json {
                    Some(json) => added.push(Added::Lent(
                        key.clone(),
                        json.clone(),
                        lent.py.bind(py).clone(),
                    )),
                    None => return Ok(None), // not text: only the dict path writes it
                }
            }
        }
        let (number, elapsed) = advance(attempt, sequence, now);
        if sequence.is_none() {
            added.push(Added::Number(
                intern!(py, "sequence_num").clone(),
                number as i64,
            ));
        }
        if !elapsed_given {
            added.push(Added::Number(intern!(py, "elapsed_ms").clone(), elapsed));
        }
        Ok(Some((attempt_id, added, number)))
    }

    /// The added fields appended to msgspec's line (before its closing brace) and set on
    /// the copy returned, in the same order.
    fn extend(line: &mut Vec<u8>, copy: &Bound<'_, PyDict>, added: &[Added<'_>]) -> PyResult<()> {
        if line.pop() != Some(b'}') {
            return Err(PyRuntimeError::new_err(
                "an encoded event did not end with '}'",
            ));
        }
        for field in added {
            match field {
                Added::Text(key, text) => {
                    push_key(line, key)?;
                    line.push(b'"');
                    line.extend_from_slice(text.as_bytes());
                    line.push(b'"');
                    copy.set_item(key, text)?;
                }
                Added::Lent(key, json, value) => {
                    push_key(line, key)?;
                    serde_json::to_writer(&mut *line, json)
                        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                    copy.set_item(key, value)?;
                }
                Added::Number(key, n) => {
                    push_key(line, key)?;
                    line.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes());
                    copy.set_item(key, n)?;
                }
            }
        }
        line.push(b'}');
        Ok(())
    }
}

/// `,"key":` (the keys added are plain ASCII names).
fn push_key(line: &mut Vec<u8>, key: &Bound<'_, PyString>) -> PyResult<()> {
    line.extend_from_slice(b",\"");
    line.extend_from_slice(key.to_str()?.as_bytes());
    line.extend_from_slice(b"\":");
    Ok(())
}
