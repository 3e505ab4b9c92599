//! The analytics parts of stream files (`agentlog.analytics.parts`), computed here in one
//! pass: DuckDB's `read_json` of every field and a SQL `GROUP BY` cost a report most of its
//! time, while the parts are few rows (one per attempt, error and attempt-day).
//!
//! Each line is judged by the reader every other one uses (`engine::line`, which defers to
//! `read::decode`): a malformed line counts in `malformed` of the attempt-less part and adds
//! nothing else. A big file is cut at line ends into pieces that the cores share; the
//! pieces' parts merge in file order, so the rows do not depend on who took which piece.
//! Times parse as `events.parse_time` reads them: the stream's own format here, any other
//! through Python (`odd_time`), remembered per piece.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use flate2::read::MultiGzDecoder;
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;

use crate::engine::line::{self, Event, Line};
use crate::engine::time;
use crate::read::MAX_LINE; // a longer line is skipped (counted malformed), never held whole

/// Bytes a piece of a plain file holds (cut at the next line end).
const PIECE: u64 = 16 << 20;
/// Bytes read at a time.
const CHUNK: usize = 4 << 20;
const DAY_US: i64 = 86_400_000_000;
/// What `coalesce(timestamp, '-infinity')` orders a `session_end` without a time by.
const NO_TIME: i64 = i64::MIN;

/// Sums of the usage fields: the five token counts, then the cost (NULL until one is seen).
type Sums = [Option<f64>; 6];

fn add(sums: &mut Sums, values: impl IntoIterator<Item = Option<f64>>) {
    for (sum, value) in sums.iter_mut().zip(values) {
        if let Some(v) = value {
            *sum = Some(sum.unwrap_or(0.0) + v);
        }
    }
}

/// The `data` of the latest `session_end`, what `sessions` judges success by.
#[derive(Clone, Default)]
struct EndData {
    completion_status: Option<String>,
    duration_ms: Option<f64>,
    total_tokens: Option<f64>,
    cost_usd: Option<f64>,
    success: Option<String>,
    outcome: Option<Option<String>>,
    metrics: Option<Option<String>>,
}

struct ErrorRow {
    ts: Option<i64>,
    message: Option<String>,
    fingerprint: Option<String>,
    category: Option<String>,
}

/// One attempt's part of a stretch of one file.
#[derive(Default)]
struct Part {
    /// task_id, task_title, executor, model: the least of each (as SQL's `min`).
    firsts: [Option<String>; 4],
    started: Option<i64>,
    last_seen: Option<i64>,
    ends: i64,
    end: Option<(i64, EndData)>,
    /// tool_calls, tool_failures, errors, followups, retries, malformed.
    counts: [i64; 6],
    sums: Sums,
    errors: Vec<ErrorRow>,
    /// Per UTC day (None: events without a time).
    usage: Vec<(Option<i64>, Sums)>,
}

const MALFORMED: usize = 5;

fn least(slot: &mut Option<String>, value: Option<&str>) {
    if let Some(v) = value {
        if slot.as_deref().is_none_or(|s| v < s) {
            *slot = Some(v.to_string());
        }
    }
}

fn earliest(slot: &mut Option<i64>, t: Option<i64>, later: bool) {
    if let Some(t) = t {
        if slot.is_none_or(|s| if later { t > s } else { t < s }) {
            *slot = Some(t);
        }
    }
}

impl Part {
    fn event(&mut self, event: &Event, ts: Option<i64>) {
        let firsts = [
            &event.task_id,
            &event.task_title,
            &event.executor,
            &event.model,
        ];
        for (slot, value) in self.firsts.iter_mut().zip(firsts) {
            least(slot, value.as_deref());
        }
        earliest(&mut self.started, ts, false);
        earliest(&mut self.last_seen, ts, true);
        let data = event.data.as_ref();
        match event.event_type.as_ref() {
            "session_end" => {
                self.ends += 1;
                let t = ts.unwrap_or(NO_TIME);
                if self.end.as_ref().is_none_or(|(at, _)| t > *at) {
                    self.end = Some((t, data.map(end_data).unwrap_or_default()));
                }
            }
            "tool_call" => self.counts[0] += 1,
            "tool_result" if data.and_then(|d| d.result.as_deref()) == Some("error") => {
                self.counts[1] += 1
            }
            "error" => {
                self.counts[2] += 1;
                let nonempty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
                self.errors.push(ErrorRow {
                    ts,
                    message: data
                        .and_then(|d| d.error_message.as_deref())
                        .map(str::to_string),
                    fingerprint: nonempty(data.and_then(|d| d.error_fingerprint.as_deref())),
                    category: nonempty(data.and_then(|d| d.error_category.as_deref())),
                });
            }
            "followup_sent" => self.counts[3] += 1,
            "session_start" if data.and_then(|d| d.prompt_type.as_deref()) == Some("retry") => {
                self.counts[4] += 1
            }
            "usage" => {
                let mut values = [None; 6];
                if let Some(d) = data {
                    for (v, t) in values.iter_mut().zip(&d.tokens[..5]) {
                        *v = t.map(|t| t as f64);
                    }
                    values[5] = d.cost_usd;
                }
                add(&mut self.sums, values);
                self.day(ts.map(|t| t.div_euclid(DAY_US)), &values);
            }
            _ => {}
        }
    }

    fn day(&mut self, day: Option<i64>, values: &Sums) {
        match self.usage.iter_mut().find(|(d, _)| *d == day) {
            Some((_, sums)) => add(sums, values.iter().copied()),
            None => {
                let mut sums = [None; 6];
                add(&mut sums, values.iter().copied());
                self.usage.push((day, sums));
            }
        }
    }

    /// `later`, the part of the stretch after this one's, merged in.
    fn merge(&mut self, later: Part) {
        for (slot, value) in self.firsts.iter_mut().zip(&later.firsts) {
            least(slot, value.as_deref());
        }
        earliest(&mut self.started, later.started, false);
        earliest(&mut self.last_seen, later.last_seen, true);
        self.ends += later.ends;
        if let Some((t, data)) = later.end {
            if self.end.as_ref().is_none_or(|(at, _)| t > *at) {
                self.end = Some((t, data));
            }
        }
        for (count, more) in self.counts.iter_mut().zip(later.counts) {
            *count += more;
        }
        add(&mut self.sums, later.sums);
        self.errors.extend(later.errors);
        for (day, sums) in later.usage {
            self.day(day, &sums);
        }
    }
}

fn end_data(d: &line::Data) -> EndData {
    let owned = |s: &Option<std::borrow::Cow<str>>| s.as_deref().map(str::to_string);
    EndData {
        completion_status: owned(&d.completion_status),
        duration_ms: d.duration_ms,
        total_tokens: d.tokens[5].map(|t| t as f64),
        cost_usd: d.cost_usd,
        success: owned(&d.success),
        outcome: d.outcome.as_ref().map(owned),
        metrics: d.metrics.as_ref().map(owned),
    }
}

/// The parts of one stretch of one file, by attempt (None: no attempt id, or malformed), in
/// the order they were first seen.
#[derive(Default)]
struct Parts {
    attempts: Vec<(Box<str>, Part)>,
    index: HashMap<Box<str>, usize, foldhash::fast::RandomState>,
    last: usize, // the attempt of the line before: lines of one attempt come in runs
    none: Option<Part>,
}

impl Parts {
    fn part(&mut self, attempt: Option<&str>) -> &mut Part {
        let Some(id) = attempt else {
            return self.none.get_or_insert_with(Part::default);
        };
        if self
            .attempts
            .get(self.last)
            .is_none_or(|(name, _)| **name != *id)
        {
            self.last = match self.index.get(id) {
                Some(&at) => at,
                None => {
                    self.index.insert(id.into(), self.attempts.len());
                    self.attempts.push((id.into(), Part::default()));
                    self.attempts.len() - 1
                }
            };
        }
        &mut self.attempts[self.last].1
    }

    fn line(&mut self, bytes: &[u8], clock: &mut Clock) {
        let (mut scratch, mut event) = (None, Event::default());
        match line::decode(bytes, &mut scratch, &mut event) {
            Line::Blank => {}
            Line::Malformed(_) => self.part(None).counts[MALFORMED] += 1,
            Line::Event => {
                let ts = event.timestamp.as_deref().and_then(|t| clock.micros(t));
                self.part(event.attempt_id.as_deref()).event(&event, ts);
            }
        }
    }

    /// A line longer than MAX_LINE, skipped unread: malformed.
    fn too_long(&mut self) {
        self.part(None).counts[MALFORMED] += 1;
    }

    fn merge(&mut self, later: Parts) {
        if let Some(none) = later.none {
            match self.none.as_mut() {
                Some(part) => part.merge(none),
                None => self.none = Some(none),
            }
        }
        for (id, part) in later.attempts {
            self.part(Some(&id)).merge(part);
        }
    }

    fn rows(&self) -> impl Iterator<Item = (Option<&str>, &Part)> {
        let named = self.attempts.iter().map(|(id, p)| (Some(id.as_ref()), p));
        self.none.iter().map(|p| (None, p)).chain(named)
    }
}

/// Times in microseconds since the epoch: the stream's own format parsed here, any other by
/// `odd`, each text asked once.
struct Clock<'a> {
    odd: &'a (dyn Fn(&str) -> Option<i64> + Sync),
    known: HashMap<String, Option<i64>>,
}

impl Clock<'_> {
    fn micros(&mut self, ts: &str) -> Option<i64> {
        if let Some(t) = time::stream_micros(ts) {
            return Some(t);
        }
        if let Some(t) = self.known.get(ts) {
            return *t;
        }
        let t = (self.odd)(ts);
        if self.known.len() < 4096 {
            self.known.insert(ts.to_string(), t);
        }
        t
    }
}

// --- reading -----------------------------------------------------------------------------

/// A stretch of a file the cores share out: bytes [start, end) of a plain file, or a whole
/// gzip archive.
struct Piece {
    file: usize,
    start: u64,
    end: u64,
    gzip: bool,
}

fn pieces(paths: &[PathBuf]) -> std::io::Result<Vec<Piece>> {
    let mut out = Vec::new();
    for (file, path) in paths.iter().enumerate() {
        let handle = File::open(path)?;
        let size = handle.metadata()?.len();
        if path.extension().is_some_and(|e| e == "gz") {
            out.push(Piece {
                file,
                start: 0,
                end: size,
                gzip: true,
            });
            continue;
        }
        let mut start = 0;
        while start < size {
            let end = line_end(&handle, (start + PIECE).min(size), size)?;
            out.push(Piece {
                file,
                start,
                end,
                gzip: false,
            });
            start = end;
        }
    }
    Ok(out)
}

/// The offset just after the first newline at or after `at` (the size if none).
fn line_end(file: &File, mut at: u64, size: u64) -> std::io::Result<u64> {
    let mut buf = vec![0; 1 << 16];
    while at < size {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
    Ok(size)
}

/// Every line of `piece` into `parts`; the last one even without its newline (as DuckDB and
/// `partial_tails` count it).
fn read_piece(
    path: &Path,
    piece: &Piece,
    buf: &mut Vec<u8>,
    parts: &mut Parts,
    clock: &mut Clock,
) -> std::io::Result<()> {
    let file = File::open(path)?;
    let mut reader: Box<dyn Read> = if piece.gzip {
        Box::new(MultiGzDecoder::new(std::io::BufReader::with_capacity(
            1 << 16,
            file,
        )))
    } else {
        Box::new(Stretch {
            file,
            at: piece.start,
            end: piece.end,
        })
    };
    buf.resize(CHUNK, 0);
    let mut held = 0; // bytes of an unfinished line at the start of buf
    let mut skipping = false; // the unfinished line is longer than MAX_LINE: not held
    loop {
        if held == buf.len() {
            buf.resize(buf.len() * 2, 0); // a line longer than the buffer
        }
        let n = reader.read(&mut buf[held..])?;
        if n == 0 {
            break;
        }
        let filled = held + n;
        let mut from = 0;
        for end in memchr::memchr_iter(b'\n', &buf[held..filled]) {
            if std::mem::take(&mut skipping) {
                parts.too_long();
            } else {
                parts.line(&buf[from..held + end], clock);
            }
            from = held + end + 1;
        }
        buf.copy_within(from..filled, 0);
        held = filled - from;
        if skipping || held > MAX_LINE {
            (skipping, held) = (true, 0);
        }
    }
    if skipping {
        parts.too_long();
    } else if held > 0 {
        parts.line(&buf[..held], clock);
    }
    Ok(())
}

/// Bytes [at, end) of a file.
struct Stretch {
    file: File,
    at: u64,
    end: u64,
}

impl Read for Stretch {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min((self.end - self.at) as usize);
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// The parts of each file of `paths`, the pieces read on every core.
fn scan(
    paths: &[PathBuf],
    odd: &(dyn Fn(&str) -> Option<i64> + Sync),
) -> std::io::Result<Vec<Parts>> {
    let pieces = pieces(paths)?;
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, std::io::Result<Parts>)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(pieces.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut buf = Vec::new();
                let mut clock = Clock {
                    odd,
                    known: HashMap::new(),
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(piece) = pieces.get(i) else { break };
                    let mut parts = Parts::default();
                    let result =
                        read_piece(&paths[piece.file], piece, &mut buf, &mut parts, &mut clock);
                    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
                    done.push((i, result.map(|_| parts)));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    let mut files: Vec<Parts> = paths.iter().map(|_| Parts::default()).collect();
    for (i, result) in done {
        files[pieces[i].file].merge(result?);
    }
    Ok(files)
}

// --- writing -----------------------------------------------------------------------------

/// The rows as JSON lines in `COLUMNS` (parts.py); the length of the longest.
fn write_rows(files: &[Parts], out: &mut impl Write) -> std::io::Result<usize> {
    let mut longest = 0;
    let mut row = Vec::new();
    for (file, parts) in files.iter().enumerate() {
        for (attempt, part) in parts.rows() {
            let head = |row: &mut Vec<u8>, kind: &str| {
                row.clear();
                row.extend_from_slice(
                    format!("{{\"kind\":\"{kind}\",\"file\":{file},\"attempt_id\":").as_bytes(),
                );
                json_text(row, attempt);
            };
            head(&mut row, "session");
            session(&mut row, part);
            longest = longest.max(emit(out, &mut row)?);
            for error in &part.errors {
                head(&mut row, "error");
                field(&mut row, "ts", |r| json_time(r, error.ts));
                field(&mut row, "message", |r| {
                    json_text(r, error.message.as_deref())
                });
                field(&mut row, "fingerprint", |r| {
                    json_text(r, error.fingerprint.as_deref())
                });
                field(&mut row, "category", |r| {
                    json_text(r, error.category.as_deref())
                });
                longest = longest.max(emit(out, &mut row)?);
            }
            for (day, sums) in &part.usage {
                head(&mut row, "usage");
                field(&mut row, "day", |r| match day {
                    Some(d) => json_text(r, Some(&time::date(*d))),
                    None => r.extend_from_slice(b"null"),
                });
                sum_fields(&mut row, sums);
                longest = longest.max(emit(out, &mut row)?);
            }
        }
    }
    Ok(longest)
}

const FIRSTS: [&str; 4] = ["task_id", "task_title", "executor", "model"];
const COUNTS: [&str; 6] = [
    "tool_calls",
    "tool_failures",
    "errors",
    "followups",
    "retries",
    "malformed",
];
const SUMS: [&str; 6] = [
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
    "usage_cost",
];

fn session(row: &mut Vec<u8>, part: &Part) {
    for (name, value) in FIRSTS.iter().zip(&part.firsts) {
        field(row, name, |r| json_text(r, value.as_deref()));
    }
    field(row, "started", |r| json_time(r, part.started));
    field(row, "last_seen", |r| json_time(r, part.last_seen));
    field(row, "ends", |r| {
        r.extend_from_slice(part.ends.to_string().as_bytes())
    });
    if let Some((t, data)) = &part.end {
        field(row, "end_time", |r| match *t {
            NO_TIME => r.extend_from_slice(b"\"-infinity\""),
            t => json_time(r, Some(t)),
        });
        field(row, "end_data", |r| end_json(r, data));
    }
    for (name, count) in COUNTS.iter().zip(part.counts) {
        field(row, name, |r| {
            r.extend_from_slice(count.to_string().as_bytes())
        });
    }
    sum_fields(row, &part.sums);
}

fn end_json(r: &mut Vec<u8>, d: &EndData) {
    r.push(b'{');
    r.extend_from_slice(b"\"completion_status\":");
    json_text(r, d.completion_status.as_deref());
    for (name, value) in [
        ("duration_ms", d.duration_ms),
        ("total_tokens", d.total_tokens),
        ("cost_usd", d.cost_usd),
    ] {
        field(r, name, |r| json_number(r, value));
    }
    field(r, "success", |r| json_raw(r, d.success.as_deref()));
    field(r, "outcome", |r| match &d.outcome {
        Some(status) => {
            r.extend_from_slice(b"{\"status\":");
            json_text(r, status.as_deref());
            r.push(b'}');
        }
        None => r.extend_from_slice(b"null"),
    });
    field(r, "metrics", |r| match &d.metrics {
        Some(success) => {
            r.extend_from_slice(b"{\"success\":");
            json_raw(r, success.as_deref());
            r.push(b'}');
        }
        None => r.extend_from_slice(b"null"),
    });
    r.push(b'}');
}

fn sum_fields(row: &mut Vec<u8>, sums: &Sums) {
    for (name, sum) in SUMS.iter().zip(sums) {
        field(row, name, |r| json_number(r, *sum));
    }
}

fn field(row: &mut Vec<u8>, name: &str, value: impl FnOnce(&mut Vec<u8>)) {
    row.extend_from_slice(b",\"");
    row.extend_from_slice(name.as_bytes());
    row.extend_from_slice(b"\":");
    value(row);
}

fn emit(out: &mut impl Write, row: &mut Vec<u8>) -> std::io::Result<usize> {
    row.extend_from_slice(b"}\n");
    out.write_all(row)?;
    Ok(row.len())
}

fn json_text(r: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(t) => serde_json::to_writer(&mut *r, t).expect("a string encodes"),
        None => r.extend_from_slice(b"null"),
    }
}

/// A JSON value as written in the line (checked there).
fn json_raw(r: &mut Vec<u8>, raw: Option<&str>) {
    r.extend_from_slice(raw.unwrap_or("null").as_bytes());
}

fn json_number(r: &mut Vec<u8>, value: Option<f64>) {
    match value.and_then(serde_json::Number::from_f64) {
        Some(n) => r.extend_from_slice(n.to_string().as_bytes()),
        None => r.extend_from_slice(b"null"),
    }
}

fn json_time(r: &mut Vec<u8>, t: Option<i64>) {
    json_text(r, t.map(time::duckdb_time).as_deref());
}

// --- Python ------------------------------------------------------------------------------

/// Writes the flat parts of the stream files `paths` to `out` as JSON lines (one row per
/// file and attempt, error, and attempt and day; `file` is the index in `paths`) and returns
/// the length of the longest row. `odd_time(text)` gives the microseconds of a timestamp not
/// in the stream's own format, or None. Runs without the GIL, on every core.
#[pyfunction]
fn stream_parts(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    out: PathBuf,
    odd_time: Py<PyAny>,
) -> PyResult<usize> {
    let odd = |ts: &str| -> Option<i64> {
        Python::attach(|py| {
            odd_time
                .call1(py, (ts,))
                .and_then(|t| t.extract(py))
                .ok()
                .flatten()
        })
    };
    let work = || -> std::io::Result<usize> {
        let files = scan(&paths, &odd)?;
        let mut writer = BufWriter::with_capacity(1 << 20, File::create(&out)?);
        let longest = write_rows(&files, &mut writer)?;
        writer.flush()?;
        Ok(longest)
    };
    match py.detach(|| panic::catch_unwind(AssertUnwindSafe(work))) {
        Ok(Ok(longest)) => Ok(longest),
        Ok(Err(e)) => Err(PyOSError::new_err(e.to_string())),
        Err(_) => Err(PyRuntimeError::new_err(
            "computing the analytics parts failed (a bug: please report it)",
        )),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(stream_parts, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rows(lines: &[u8]) -> String {
        let mut parts = Parts::default();
        let odd = |_: &str| None;
        let mut clock = Clock {
            odd: &odd,
            known: HashMap::new(),
        };
        for line in lines.split(|b| *b == b'\n') {
            parts.line(line, &mut clock);
        }
        let mut out = Vec::new();
        write_rows(&[parts], &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_attempt_s_events_make_its_rows() {
        let out = rows(concat!(
            r#"{"event_type":"session_start","attempt_id":"a","timestamp":"2026-01-01T23:59:59.000Z","model":"m","data":{"prompt_type":"retry"}}"#,
            "\n",
            r#"{"event_type":"usage","attempt_id":"a","timestamp":"2026-01-02T00:00:01.000Z","data":{"input_tokens":5,"cost_usd":0.5}}"#,
            "\n",
            r#"{"event_type":"error","attempt_id":"a","data":{"error_message":"boom","error_fingerprint":""}}"#,
            "\n",
            r#"{"event_type":"session_end","attempt_id":"a","data":{"success":true,"outcome":{"status":"completed"}}}"#,
            "\n\nnot json\n{\"attempt_id\":\"a\"}"
        ).as_bytes());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(lines[0].contains(r#""attempt_id":null"#) && lines[0].contains(r#""malformed":2"#));
        assert!(lines[1].contains(r#""started":"2026-01-01 23:59:59.000000+00""#));
        assert!(lines[1].contains(r#""retries":1"#) && lines[1].contains(r#""model":"m""#));
        assert!(lines[1].contains(r#""end_time":"-infinity""#));
        assert!(
            lines[1].contains(r#""success":true,"outcome":{"status":"completed"},"metrics":null"#)
        );
        assert!(lines[2].contains(r#""message":"boom","fingerprint":null"#));
        assert!(lines[3].contains(r#""day":"2026-01-02","input_tokens":5.0"#));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            rows(&bytes);
        }

        #[test]
        fn jsonish_lines_never_panic(parts in proptest::collection::vec(prop::sample::select(vec![
            "{", "}", "[", "]", ":", ",", "\n", "\"event_type\"", "\"usage\"", "\"session_end\"",
            "\"data\"", "\"outcome\"", "\"metrics\"", "\"success\"", "\"attempt_id\"", "\"timestamp\"",
            "\"2026-01-01T00:00:00.000Z\"", "1e400", "-1", "true", "null", "\"\\ud800\"", "\u{e9}",
        ]), 0..300)) {
            rows(parts.concat().as_bytes());
        }
    }
}
