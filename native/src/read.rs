//! One stream line decoded within bounds and checked against the read schema: the decoder
//! every reader of the event stream shares (`cat`, `replay`, sessions, the watchdog's
//! careful path, `emit -`), so a line one of them skips is the line all of them skip.
//!
//! A line is malformed when it is not UTF-8, not JSON, nested deeper than `MAX_DEPTH`, has a
//! number no float can hold, is not an object, or has a field agentlog computes with of the
//! wrong type or out of its bounds (the schema of `events.ReadEvent` / `events.Alert`). The
//! reasons are worded as the Python readers word them, so messages did not change with the
//! port. Decoding never panics across the FFI boundary: a panic on one line (a bug) is caught
//! and that line reported as malformed, like any other.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use serde_json::{Map, Number, Value};

/// Levels of arrays and objects, the line itself being one; events use 3 or 4.
pub const MAX_DEPTH: usize = 64;
/// A longer line is skipped by every reader, never held: 8x the recorder's default cap on an
/// event (`max_event_bytes`). Python reads it from here (`store.cursor.MAX_LINE`).
pub const MAX_LINE: usize = 64 << 20;
const BOM: &[u8] = b"\xef\xbb\xbf";
const MAX_TOKENS: u64 = 1_000_000_000_000;
const MAX_USD: f64 = 1_000_000.0;
const MAX_MS: f64 = 10.0 * 365.0 * 86_400_000.0;
const MAX_COUNT: u64 = 1 << 53;

/// Why a line is not an event: the field at fault (`line` for the line as a whole) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    pub field: String,
    pub reason: String,
}

impl Bad {
    fn line(reason: String) -> Bad {
        Bad {
            field: "line".into(),
            reason,
        }
    }

    fn json(why: impl std::fmt::Display) -> Bad {
        Bad::line(format!("not valid JSON ({why})"))
    }

    /// A field of the wrong type or out of bounds: `reason` says how, `path` where.
    fn at(path: &[&str], reason: String) -> Bad {
        Bad {
            field: path[0].into(),
            reason: format!("{reason} at {}", path.join(".")),
        }
    }
}

/// Which lines: stream events (`events.ReadEvent`) or alerts (`events.Alert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Event,
    Alert,
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    /// An integer >= 0 and <= the bound, when there is one.
    Int(Option<u64>),
    /// A number >= 0 and <= the bound, when there is one.
    Float(Option<f64>),
    /// `data`: an object whose own fields are checked against `READ_DATA`.
    Data,
}

struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const TOKENS: Kind = Kind::Int(Some(MAX_TOKENS));
const MILLIS: Kind = Kind::Float(Some(MAX_MS));

/// `events.ReadEvent`: what every reader may rely on in a line.
const READ_EVENT: &[Field] = &[
    req("event_type", Kind::Str),
    opt("timestamp", Kind::Str),
    opt("timestamp_quality", Kind::Str),
    opt("attempt_id", Kind::Str),
    opt("event_id", Kind::Str),
    opt("task_id", Kind::Str),
    opt("executor", Kind::Str),
    opt("elapsed_ms", MILLIS),
    opt("sequence_num", Kind::Int(Some(MAX_COUNT))),
    opt("data", Kind::Data),
];

/// `events.READ_DATA`: the `data` fields agentlog computes with, typed as the write schema.
const READ_DATA: &[Field] = &[
    opt("error_message", Kind::Str),
    opt("error_fingerprint", Kind::Str),
    opt("error_category", Kind::Str),
    opt("tool_name", Kind::Str),
    opt("result", Kind::Str),
    opt("prompt_type", Kind::Str),
    opt("status", Kind::Str),
    opt("completion_status", Kind::Str),
    opt("input_tokens", TOKENS),
    opt("output_tokens", TOKENS),
    opt("cache_creation_tokens", TOKENS),
    opt("cache_read_tokens", TOKENS),
    opt("reasoning_tokens", TOKENS),
    opt("total_tokens", TOKENS),
    opt("cost_usd", Kind::Float(Some(MAX_USD))),
    opt("duration_ms", MILLIS),
];

/// `events.Alert`: one line of agent-alerts.jsonl (required fields in the order reported).
const ALERT: &[Field] = &[
    req("timestamp", Kind::Str),
    req("type", Kind::Str),
    req("attempt_id", Kind::Str),
    req("severity", Kind::Str),
    req("recommendation", Kind::Str),
    opt("alert_id", Kind::Str),
    opt("executor", Kind::Str),
    opt("task_id", Kind::Str),
    opt("message", Kind::Str),
    opt("error_fingerprint", Kind::Str),
    opt("error_category", Kind::Str),
    opt("occurrences", Kind::Int(None)),
    opt("tool_name", Kind::Str),
    opt("idle_time_ms", Kind::Float(None)),
    opt("cost_usd", Kind::Float(None)),
    opt("threshold", Kind::Float(None)),
    opt("window_ms", Kind::Float(None)),
    opt("event_time", Kind::Str),
    opt("key", Kind::Str),
];

/// A line with NUL bytes, read after the last of them. A crash can leave a file's end as NULs
/// (the size written, the data not: XFS, ext4 with delayed allocation), and the next writer
/// appends its whole line after them. No JSON line holds a raw NUL, so what comes before is
/// that padding (and maybe the cut line the crash left), never part of a line to read.
pub fn after_padding(line: &[u8]) -> &[u8] {
    memchr::memrchr(0, line).map_or(line, |last| &line[last + 1..])
}

/// Whether a line holds nothing but whitespace (as Python's `bytes.strip` sees it).
pub fn blank(line: &[u8]) -> bool {
    line.iter().all(|b| b" \t\n\r\x0b\x0c".contains(b))
}

/// The line's object, checked; or why it is malformed.
pub fn decode(line: &[u8], schema: Schema) -> Result<Map<String, Value>, Bad> {
    let line = after_padding(line);
    let line = line.strip_prefix(BOM).unwrap_or(line); // PowerShell writes one at the start of a file
    let text = std::str::from_utf8(line)
        .map_err(|e| Bad::json(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json stops at 128 levels, before the stack is at risk: deeper than ours anyway
        if e.to_string().starts_with("recursion limit exceeded") {
            Bad::json(format!("nested deeper than {MAX_DEPTH} levels"))
        } else {
            // one line: its column is the byte offset (and 0 for an unexpected end)
            let text = e.to_string();
            let what = text.split(" at line ").next().unwrap_or(&text);
            Bad::json(format!("{what} at byte {}", e.column().saturating_sub(1)))
        }
    })?;
    within_bounds(&value, 1)?;
    match value {
        Value::Object(map) => {
            let fields = match schema {
                Schema::Event => READ_EVENT,
                Schema::Alert => ALERT,
            };
            check_object(&map, fields, &[])?;
            Ok(map)
        }
        other => Err(Bad::line(format!(
            "expected a JSON object, got {}",
            python_type(&other)
        ))),
    }
}

/// Nesting within `MAX_DEPTH`, and every number one Python can hold (an integer of any size,
/// or a finite float).
fn within_bounds(value: &Value, depth: usize) -> Result<(), Bad> {
    let mut children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        Value::Number(n) => {
            return match number(n) {
                Num::Float(f) if !f.is_finite() => Err(Bad::json("number out of range")),
                _ => Ok(()),
            }
        }
        _ => return Ok(()),
    };
    if depth > MAX_DEPTH {
        return Err(Bad::json(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    children.try_for_each(|child| within_bounds(child, depth + 1))
}

fn check_object(map: &Map<String, Value>, fields: &[Field], path: &[&str]) -> Result<(), Bad> {
    for (name, value) in map {
        if let Some(field) = fields.iter().find(|f| f.name == name) {
            let here: Vec<&str> = path.iter().copied().chain([field.name]).collect();
            check_field(field, value, &here)?;
        }
    }
    match fields
        .iter()
        .find(|f| f.required && !map.contains_key(f.name))
    {
        Some(missing) => Err(Bad {
            field: missing.name.into(),
            reason: "missing".into(),
        }),
        None => Ok(()),
    }
}

fn check_field(field: &Field, value: &Value, path: &[&str]) -> Result<(), Bad> {
    let wrong = |expected: &str| {
        let null = if field.required { "" } else { " | null" };
        Bad::at(
            path,
            format!("Expected `{expected}{null}`, got `{}`", json_type(value)),
        )
    };
    match (field.kind, value) {
        (Kind::Data, Value::Object(map)) => check_object(map, READ_DATA, path),
        (Kind::Data, _) => Err(Bad::at(
            path,
            format!("Expected `object`, got `{}`", json_type(value)),
        )),
        (_, Value::Null) if !field.required => Ok(()),
        (Kind::Str, Value::String(_)) => Ok(()),
        (Kind::Str, _) => Err(wrong("str")),
        (Kind::Int(max), Value::Number(n)) => match number(n) {
            Num::Float(_) => Err(wrong("int")),
            int => bounded("int", int, max.map(|m| m as f64), "0", path),
        },
        (Kind::Int(_), _) => Err(wrong("int")),
        (Kind::Float(max), Value::Number(n)) => bounded("float", number(n), max, "0.0", path),
        (Kind::Float(_), _) => Err(wrong("float")),
    }
}

/// A number against `>= 0` and `<= max`, in msgspec's words (`Expected `int` >= 0 (got -1)`).
fn bounded(kind: &str, n: Num, max: Option<f64>, zero: &str, path: &[&str]) -> Result<(), Bad> {
    let Some(max) = max else { return Ok(()) };
    let (value, shown) = match &n {
        Num::Int(i) => (*i as f64, i.to_string()),
        Num::Big(text) => (text.parse::<f64>().unwrap_or(f64::INFINITY), text.clone()),
        Num::Float(f) => (*f, python_float(*f)),
    };
    let bound = if value < 0.0 || (matches!(n, Num::Big(_)) && shown.starts_with('-')) {
        format!(">= {zero}")
    } else if value > max || (kind == "int" && matches!(n, Num::Big(_))) {
        match kind {
            "int" => format!("<= {}", max as u64),
            _ => format!("<= {}", python_float(max)),
        }
    } else {
        return Ok(());
    };
    Err(Bad::at(
        path,
        format!("Expected `{kind}` {bound} (got {shown})"),
    ))
}

/// A JSON number as Python reads it: an int (of any size) or a float.
pub(crate) enum Num {
    Int(i128),
    Big(String),
    Float(f64),
}

pub(crate) fn number(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        return Num::Int(i as i128);
    }
    if let Some(u) = n.as_u64() {
        return Num::Int(u as i128);
    }
    let text = n.to_string();
    if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        Num::Float(text.parse().unwrap_or(f64::INFINITY))
    } else {
        Num::Big(text) // beyond 64 bits
    }
}

/// `repr(f)` in Python: the shortest digits that read back, in fixed notation from 1e-4 up to
/// 1e16, in exponent notation (`1e+16`) outside.
fn python_float(f: f64) -> String {
    let sci = format!("{f:e}"); // shortest round-trip digits: "-1.5e6"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let (int, frac) = if point <= 0 {
            ("0".to_string(), "0".repeat((-point) as usize) + &digits)
        } else if point as usize >= digits.len() {
            (
                digits.clone() + &"0".repeat(point as usize - digits.len()),
                String::new(),
            )
        } else {
            (
                digits[..point as usize].to_string(),
                digits[point as usize..].to_string(),
            )
        };
        let frac = if frac.is_empty() {
            "0".to_string()
        } else {
            frac
        };
        format!("{sign}{int}.{frac}")
    } else {
        format!(
            "{sign}{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) => match number(n) {
            Num::Float(_) => "float",
            _ => "int",
        },
        Value::String(_) => "str",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
        other => json_type(other),
    }
}

/// `decode`, with a panic (a bug) turned into a malformed line instead of unwinding into Python.
pub fn decode_guarded(line: &[u8], schema: Schema) -> Result<Map<String, Value>, Bad> {
    panic::catch_unwind(AssertUnwindSafe(|| decode(line, schema))).unwrap_or_else(|_| {
        Err(Bad::line(
            "the decoder failed on this line (a bug: please report it)".into(),
        ))
    })
}

// --- Python -----------------------------------------------------------------------------------

create_exception!(
    _core,
    LineError,
    PyValueError,
    "A line that is not an event: args are (field, reason)."
);

fn schema_of(alerts: bool) -> Schema {
    if alerts {
        Schema::Alert
    } else {
        Schema::Event
    }
}

/// Builds Python objects from decoded lines; the keys of a file repeat on every line, so each
/// is made once per chunk (as msgspec caches them).
pub(crate) struct Builder<'py> {
    py: Python<'py>,
    keys: HashMap<String, Bound<'py, PyString>>,
}

impl<'py> Builder<'py> {
    pub(crate) fn new(py: Python<'py>) -> Self {
        Builder {
            py,
            keys: HashMap::new(),
        }
    }

    pub(crate) fn value(&mut self, value: &Value) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match value {
            Value::Null => py.None().into_bound(py),
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::Number(n) => match number(n) {
                Num::Int(i) => i.into_pyobject(py)?.into_any(),
                Num::Big(text) => py.get_type::<PyInt>().call1((text,))?,
                Num::Float(f) => PyFloat::new(py, f).into_any(),
            },
            Value::String(s) => PyString::new(py, s).into_any(),
            Value::Array(items) => {
                let list = PyList::empty(py);
                for item in items {
                    list.append(self.value(item)?)?;
                }
                list.into_any()
            }
            Value::Object(map) => self.dict(map)?.into_any(),
        })
    }

    pub(crate) fn dict(&mut self, map: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(self.py);
        for (key, value) in map {
            let value = self.value(value)?;
            match self.keys.get(key) {
                Some(name) => out.set_item(name, value)?,
                None => {
                    let name = PyString::new(self.py, key);
                    out.set_item(&name, value)?;
                    if self.keys.len() < 4096 {
                        self.keys.insert(key.clone(), name);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// One line as a dict; raises LineError(field, reason) when it is not an event (or alert).
#[pyfunction]
#[pyo3(signature = (line, alerts = false))]
fn decode_line<'py>(py: Python<'py>, line: &[u8], alerts: bool) -> PyResult<Bound<'py, PyDict>> {
    match decode_guarded(line, schema_of(alerts)) {
        Ok(map) => Builder::new(py).dict(&map),
        Err(bad) => Err(LineError::new_err((bad.field, bad.reason))),
    }
}

/// The lines of a chunk of a file, one item per line ending in a newline (what follows the last
/// one is left for later): the line's dict, (field, reason) when it is malformed, or None when
/// it is blank.
#[pyfunction]
#[pyo3(signature = (data, alerts = false))]
fn decode_chunk<'py>(py: Python<'py>, data: &[u8], alerts: bool) -> PyResult<Bound<'py, PyList>> {
    let schema = schema_of(alerts);
    let out = PyList::empty(py);
    let mut build = Builder::new(py);
    for line in data
        .split_inclusive(|b| *b == b'\n')
        .filter(|line| line.ends_with(b"\n"))
    {
        if blank(line) {
            out.append(py.None())?;
            continue;
        }
        match decode_guarded(line, schema) {
            Ok(map) => out.append(build.dict(&map)?)?,
            Err(bad) => out.append((bad.field, bad.reason))?,
        }
    }
    Ok(out)
}

/// Why a line is not an event, as (field, reason), or None when it is one (nothing is built).
#[pyfunction]
fn line_problem(line: &[u8]) -> Option<(String, String)> {
    decode_guarded(line, Schema::Event)
        .err()
        .map(|bad| (bad.field, bad.reason))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("LineError", m.py().get_type::<LineError>())?;
    m.add("MAX_DEPTH", MAX_DEPTH)?;
    m.add("MAX_LINE", MAX_LINE)?;
    m.add_function(wrap_pyfunction!(decode_line, m)?)?;
    m.add_function(wrap_pyfunction!(decode_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(line_problem, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn why(line: &[u8]) -> (String, String) {
        let bad = decode(line, Schema::Event).unwrap_err();
        (bad.field, bad.reason)
    }

    fn nested(depth: usize) -> Vec<u8> {
        let inner = "[".repeat(depth - 1) + &"]".repeat(depth - 1);
        format!(r#"{{"event_type": "x", "extra": {inner}}}"#).into_bytes()
    }

    #[test]
    fn an_event_reads_back_with_its_unknown_fields_in_order() {
        let line = b"\xef\xbb\xbf{\"event_type\": \"error\", \"z\": 1, \"a\": [2], \"z\": 3}\r\n";
        let map = decode(line, Schema::Event).unwrap();
        assert_eq!(map.keys().collect::<Vec<_>>(), ["event_type", "z", "a"]);
        assert_eq!(map["z"], 3);
    }

    #[test]
    fn nesting_is_bounded_exactly() {
        assert!(decode(&nested(MAX_DEPTH), Schema::Event).is_ok());
        for depth in [MAX_DEPTH + 1, 200, 100_000] {
            assert_eq!(
                why(&nested(depth)).1,
                "not valid JSON (nested deeper than 64 levels)"
            );
        }
    }

    #[test]
    fn wrong_types_and_bounds_are_worded_as_msgspec_words_them() {
        let cases: &[(&[u8], &str, &str)] = &[
            (br#"{"event_type": 3}"#, "event_type", "Expected `str`, got `int` at event_type"),
            (br#"{}"#, "event_type", "missing"),
            (br#"{"event_type": "a", "data": null}"#, "data", "Expected `object`, got `null` at data"),
            (br#"{"event_type": "a", "elapsed_ms": "x"}"#, "elapsed_ms", "Expected `float | null`, got `str` at elapsed_ms"),
            (br#"{"event_type": "a", "data": {"input_tokens": -1}}"#, "data", "Expected `int` >= 0 (got -1) at data.input_tokens"),
            (br#"{"event_type": "a", "data": {"input_tokens": 1e3}}"#, "data", "Expected `int | null`, got `float` at data.input_tokens"),
            (br#"{"event_type": "a", "data": {"cost_usd": 2e6}}"#, "data", "Expected `float` <= 1000000.0 (got 2000000.0) at data.cost_usd"),
            (br#"{"event_type": "a", "data": {"input_tokens": 99999999999999999999999}}"#, "data",
             "Expected `int` <= 1000000000000 (got 99999999999999999999999) at data.input_tokens"),
            (br#"{"event_type": "a", "data": {"cost_usd": 1e400}}"#, "line", "not valid JSON (number out of range)"),
            (b"[1, 2]", "line", "expected a JSON object, got list"),
            (b"{\"event_type\": \"a\", \"x\": \"\xff\"}", "line", "not valid JSON (not UTF-8 at byte 26)"),
        ];
        for (line, field, reason) in cases {
            assert_eq!(
                why(line),
                (field.to_string(), reason.to_string()),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(
            decode(br#"{"type": "x"}"#, Schema::Alert)
                .unwrap_err()
                .field,
            "timestamp"
        );
    }

    #[test]
    fn floats_are_shown_as_python_shows_them() {
        for (f, shown) in [
            (2e6, "2000000.0"),
            (1e16, "1e+16"),
            (0.0001, "0.0001"),
            (1.5e-5, "1.5e-05"),
            (-3.25, "-3.25"),
        ] {
            assert_eq!(python_float(f), shown);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&line, Schema::Event);
            let _ = decode(&line, Schema::Alert);
        }

        #[test]
        fn jsonish_bytes_never_panic(parts in proptest::collection::vec(
            prop::sample::select(vec!["{", "}", "[", "]", "\"", ":", ",", "\\", "\"event_type\"", "\"data\"",
                                      "\"input_tokens\"", "1e400", "-0", "99999999999999999999", "null", "\"x\"",
                                      "\u{e9}", "\\ud800", " "]), 0..200)) {
            let line = parts.concat();
            let _ = decode(line.as_bytes(), Schema::Event);
        }
    }
}
