//! One stream line as the watch reads it: the fields the engine and its detectors use,
//! borrowed from the line's bytes (no `serde_json::Value`, no Python object per event).
//!
//! The verdict (event or malformed, and why) is `read::decode`'s, the decoder every reader
//! shares: the single pass here (`scan`) takes only lines that one accepts too, with the
//! values it would read. A line it cannot vouch for (a repeated field, an odd number, deep
//! nesting, a lone surrogate, a field of the wrong type, bad JSON) is judged by
//! `read::decode`, and when that one finds it readable the event is taken from its map.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::scan::Cursor;
use crate::read::{self, Schema};

const BOM: &[u8] = b"\xef\xbb\xbf";
const MAX_TOKENS: u64 = 1_000_000_000_000;
const MAX_USD: f64 = 1_000_000.0;
const MAX_MS: f64 = 10.0 * 365.0 * 86_400_000.0;
const MAX_COUNT: u64 = 1 << 53;

/// A string field: borrowed from the line unless it held an escape.
pub type Text<'a> = Option<Cow<'a, str>>;

/// What the engine reads of an event (`view.WatchEvent`); the other fields of the read
/// schema are checked for their type and bounds only.
#[derive(Debug, Default, PartialEq)]
pub struct Event<'a> {
    pub event_type: Cow<'a, str>,
    pub timestamp: Text<'a>,
    pub timestamp_quality: Text<'a>,
    pub attempt_id: Text<'a>,
    pub event_id: Text<'a>,
    pub task_id: Text<'a>,
    pub executor: Text<'a>,
    pub sequence_num: Option<u64>,
    pub data: Option<Data<'a>>,
    /// Outside the read schema: a string, else none (the analytics parts read them).
    pub task_title: Text<'a>,
    pub model: Text<'a>,
}

/// What the detectors read of `data` (`view.Data`); `tool_params` is its raw JSON text
/// ("" when absent), compared, never read.
#[derive(Debug, Default, PartialEq)]
pub struct Data<'a> {
    pub error_message: Text<'a>,
    pub error_fingerprint: Text<'a>,
    pub error_category: Text<'a>,
    pub tool_name: Text<'a>,
    pub prompt_type: Text<'a>,
    pub status: Text<'a>,
    pub completion_status: Text<'a>,
    pub cost_usd: Option<f64>,
    pub tool_params: Cow<'a, str>,
    pub result: Text<'a>,
    /// `TOKENS`, in that order.
    pub tokens: [Option<u64>; 6],
    pub duration_ms: Option<f64>,
    /// What the analytics parts judge success by (outside the read schema): `success` as its
    /// JSON text; `outcome`, when an object, with its `status` if a string; `metrics`, when
    /// an object, with the JSON text of its `success`.
    pub success: Option<Cow<'a, str>>,
    pub outcome: Option<Text<'a>>,
    pub metrics: Option<Option<Cow<'a, str>>>,
}

impl Event<'_> {
    /// The identity of the event in alert ids: its event_id, else `timestamp#sequence_num`
    /// (as Python formats them: `None` for a missing one).
    pub fn trigger(&self, out: &mut String) {
        out.clear();
        match &self.event_id {
            Some(id) if !id.is_empty() => out.push_str(id),
            _ => {
                use std::fmt::Write;
                out.push_str(self.timestamp.as_deref().unwrap_or("None"));
                out.push('#');
                match self.sequence_num {
                    Some(n) => {
                        let _ = write!(out, "{n}");
                    }
                    None => out.push_str("None"),
                }
            }
        }
    }
}

/// A line's verdict: an event (read into the caller's slot), nothing (blank), or why it is
/// malformed (worded as `view.decode_or_why`).
pub enum Line {
    Event,
    Blank,
    Malformed(String),
}

/// Decodes a line into `event`, a default slot the caller keeps (the event, some 650 bytes,
/// is then written in place, never moved). `scratch` keeps the map of a line that took the
/// careful way, which the event then borrows from; since both live as long as the line's
/// borrow, each line gets fresh ones.
pub fn decode<'a>(
    line: &'a [u8],
    scratch: &'a mut Option<Map<String, Value>>,
    event: &mut Event<'a>,
) -> Line {
    if read::blank(line) {
        return Line::Blank;
    }
    if scan(line, event).is_some() {
        return Line::Event;
    }
    match read::decode_guarded(line, Schema::Event) {
        Err(bad) if bad.field == "line" => Line::Malformed(bad.reason),
        Err(bad) => Line::Malformed(format!("not an event ({})", bad.reason)),
        Ok(map) => {
            *event = from_map(scratch.insert(map));
            Line::Event
        }
    }
}

/// The event of a line in one pass into `event`, when the pass can vouch for it (else what
/// it holds is to be overwritten).
fn scan<'a>(line: &'a [u8], event: &mut Event<'a>) -> Option<()> {
    let body = simdutf8::basic::from_utf8(line.strip_prefix(BOM).unwrap_or(line)).ok()?;
    let mut c = Cursor::new(body);
    let mut seen = Seen::default();
    c.ws();
    c.object(|c, key| {
        match key {
            "event_type" => event.event_type = seen.first(0).and_then(|_| c.string())?,
            "timestamp" => event.timestamp = seen.first(1).and_then(|_| text(c))?,
            "timestamp_quality" => event.timestamp_quality = seen.first(2).and_then(|_| text(c))?,
            "attempt_id" => event.attempt_id = seen.first(3).and_then(|_| text(c))?,
            "event_id" => event.event_id = seen.first(4).and_then(|_| text(c))?,
            "task_id" => event.task_id = seen.first(5).and_then(|_| text(c))?,
            "executor" => event.executor = seen.first(6).and_then(|_| text(c))?,
            "elapsed_ms" => {
                seen.first(7).and_then(|_| float(c, MAX_MS))?;
            }
            "sequence_num" => event.sequence_num = seen.first(8).and_then(|_| int(c, MAX_COUNT))?,
            "data" => seen
                .first(9)
                .and_then(|_| data(c, event.data.insert(Data::default())))?,
            "task_title" => event.task_title = seen.first(10).and_then(|_| text(c))?,
            "model" => event.model = seen.first(11).and_then(|_| text(c))?,
            _ => {
                c.skip()?;
            }
        }
        Some(())
    })?;
    (seen.0 & 1 != 0 && c.at_end()).then_some(())
}

/// The `data` object (`null` or any other type: the careful way tells why not).
fn data<'a>(c: &mut Cursor<'a>, data: &mut Data<'a>) -> Option<()> {
    let mut seen = Seen::default();
    if c.peek()? != b'{' {
        return None;
    }
    c.object(|c, key| {
        match key {
            "error_message" => data.error_message = seen.first(0).and_then(|_| text(c))?,
            "error_fingerprint" => data.error_fingerprint = seen.first(1).and_then(|_| text(c))?,
            "error_category" => data.error_category = seen.first(2).and_then(|_| text(c))?,
            "tool_name" => data.tool_name = seen.first(3).and_then(|_| text(c))?,
            "prompt_type" => data.prompt_type = seen.first(4).and_then(|_| text(c))?,
            "status" => data.status = seen.first(5).and_then(|_| text(c))?,
            "completion_status" => data.completion_status = seen.first(6).and_then(|_| text(c))?,
            "cost_usd" => data.cost_usd = seen.first(7).and_then(|_| float(c, MAX_USD))?,
            "duration_ms" => data.duration_ms = seen.first(8).and_then(|_| float(c, MAX_MS))?,
            "tool_params" => {
                data.tool_params = Cow::Borrowed(seen.first(9).and_then(|_| c.skip())?)
            }
            "result" => data.result = seen.first(10).and_then(|_| text(c))?,
            "input_tokens"
            | "output_tokens"
            | "cache_creation_tokens"
            | "cache_read_tokens"
            | "reasoning_tokens"
            | "total_tokens" => {
                let at = TOKENS.iter().position(|t| *t == key)?;
                data.tokens[at] = seen.first(11 + at).and_then(|_| int(c, MAX_TOKENS))?;
            }
            "success" => data.success = Some(seen.first(17).and_then(|_| c.skip())?.into()),
            "outcome" => data.outcome = seen.first(18).and_then(|_| member(c, "status", text))?,
            "metrics" => data.metrics = seen.first(19).and_then(|_| member(c, "success", raw))?,
            _ => {
                c.skip()?;
            }
        }
        Some(())
    })?;
    Some(())
}

const TOKENS: [&str; 6] = [
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
    "total_tokens",
];

/// The fields of an object already read: a repeated one is for the careful way (whose map
/// keeps the last value).
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn first(&mut self, bit: usize) -> Option<()> {
        let mask = 1 << bit;
        (self.0 & mask == 0).then(|| self.0 |= mask)
    }
}

/// `Some(value of key)` when the value is an object (`read` takes the key's value, anything
/// else is skipped), none when it is anything else.
fn member<'a, T>(
    c: &mut Cursor<'a>,
    key: &str,
    read: impl Fn(&mut Cursor<'a>) -> Option<Option<T>>,
) -> Option<Option<Option<T>>> {
    if c.peek()? != b'{' {
        c.skip()?;
        return Some(None);
    }
    let mut found = None;
    let mut seen = Seen::default();
    c.object(|c, name| {
        if name == key {
            found = seen.first(0).and_then(|_| read(c))?;
        } else {
            c.skip()?;
        }
        Some(())
    })?;
    Some(Some(found))
}

/// Any value, as its JSON text.
fn raw<'a>(c: &mut Cursor<'a>) -> Option<Option<Cow<'a, str>>> {
    c.skip().map(|text| Some(Cow::Borrowed(text)))
}

/// A string or null.
fn text<'a>(c: &mut Cursor<'a>) -> Option<Text<'a>> {
    match c.peek()? {
        b'"' => c.string().map(Some),
        b'n' => c.null().map(|_| None),
        _ => None,
    }
}

/// Null, or an integer from 0 to `max` (a sign, a fraction or an exponent: the careful way).
fn int(c: &mut Cursor<'_>, max: u64) -> Option<Option<u64>> {
    if c.peek()? == b'n' {
        return c.null().map(|_| None);
    }
    let n = c.number()?;
    if n.float || n.text.len() > 16 {
        return None;
    }
    let value: u64 = n.text.parse().ok()?; // no sign: `-` fails here
    (value <= max).then_some(Some(value))
}

/// Null, or a number from 0 to `max` (a sign: the careful way).
fn float(c: &mut Cursor<'_>, max: f64) -> Option<Option<f64>> {
    if c.peek()? == b'n' {
        return c.null().map(|_| None);
    }
    let n = c.number()?;
    if n.text.starts_with('-') {
        return None;
    }
    let value = number(n.text)?;
    (value <= max).then_some(Some(value))
}

/// A number's value as serde_json reads it into an f64 (both ways read it so).
fn number(text: &str) -> Option<f64> {
    serde_json::from_str(text).ok()
}

/// The event of a line `read::decode` found readable (checked against the schema there).
fn from_map(map: &Map<String, Value>) -> Event<'_> {
    fn text<'m>(m: &'m Map<String, Value>, k: &str) -> Text<'m> {
        m.get(k).and_then(Value::as_str).map(Cow::Borrowed)
    }
    fn json(v: &Value) -> Cow<'_, str> {
        Cow::Owned(serde_json::to_string(v).unwrap_or_default())
    }
    let data = map.get("data").and_then(Value::as_object).map(|d| Data {
        result: text(d, "result"),
        tokens: TOKENS.map(|t| d.get(t).and_then(Value::as_u64)),
        duration_ms: match d.get("duration_ms") {
            Some(Value::Number(n)) => number(&n.to_string()),
            _ => None,
        },
        success: d.get("success").map(json),
        outcome: d
            .get("outcome")
            .and_then(Value::as_object)
            .map(|o| text(o, "status")),
        metrics: d
            .get("metrics")
            .and_then(Value::as_object)
            .map(|m| m.get("success").map(json)),
        error_message: text(d, "error_message"),
        error_fingerprint: text(d, "error_fingerprint"),
        error_category: text(d, "error_category"),
        tool_name: text(d, "tool_name"),
        prompt_type: text(d, "prompt_type"),
        status: text(d, "status"),
        completion_status: text(d, "completion_status"),
        cost_usd: match d.get("cost_usd") {
            Some(Value::Number(n)) => number(&n.to_string()),
            _ => None,
        },
        tool_params: match d.get("tool_params") {
            Some(v) => Cow::Owned(serde_json::to_string(v).unwrap_or_default()),
            None => Cow::Borrowed(""),
        },
    });
    Event {
        event_type: text(map, "event_type").unwrap_or_default(),
        timestamp: text(map, "timestamp"),
        timestamp_quality: text(map, "timestamp_quality"),
        attempt_id: text(map, "attempt_id"),
        event_id: text(map, "event_id"),
        task_id: text(map, "task_id"),
        executor: text(map, "executor"),
        sequence_num: map.get("sequence_num").and_then(Value::as_u64),
        data,
        task_title: text(map, "task_title"),
        model: text(map, "model"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn verdict(line: &[u8]) -> Option<String> {
        let (mut scratch, mut event) = (None, Event::default());
        match decode(line, &mut scratch, &mut event) {
            Line::Malformed(why) => Some(why),
            _ => None,
        }
    }

    fn reference(line: &[u8]) -> Option<String> {
        if read::blank(line) {
            return None;
        }
        match read::decode(line, Schema::Event) {
            Err(bad) if bad.field == "line" => Some(bad.reason),
            Err(bad) => Some(format!("not an event ({})", bad.reason)),
            Ok(_) => None,
        }
    }

    #[test]
    fn an_event_is_read_with_its_raw_params() {
        let line = br#"{"event_type":"tool_call","attempt_id":"a","timestamp":"2026-01-01T00:00:00.000Z","sequence_num":3,"data":{"tool_name":"bash","tool_params":{"cmd": "ls"}},"extra":[1,{"x":null}]}"#;
        let (mut scratch, mut event) = (None, Event::default());
        let Line::Event = decode(line, &mut scratch, &mut event) else {
            panic!("not an event")
        };
        let data = event.data.as_ref().unwrap();
        assert_eq!(data.tool_name.as_deref(), Some("bash"));
        assert_eq!(data.tool_params, r#"{"cmd": "ls"}"#);
        let mut trigger = String::new();
        event.trigger(&mut trigger);
        assert_eq!(trigger, "2026-01-01T00:00:00.000Z#3");
    }

    #[test]
    fn the_verdict_is_the_shared_decoder_s() {
        let cases: &[&[u8]] = &[
            br#"{"event_type":"x","data":null}"#,
            br#"{"event_type":"x","sequence_num":-1}"#,
            br#"{"event_type":"x","sequence_num":1.5}"#,
            br#"{"event_type":"x","data":{"cost_usd":2e6}}"#,
            br#"{"event_type":"x","other":1e999}"#,
            br#"{"event_type":"x","other":"\ud800"}"#,
            br#"{"event_type":"x","attempt_id":"a","attempt_id":"b"}"#,
            br#"{"timestamp":"t"}"#,
            b"[1]",
            b"{\"event_type\":\"x\",\"o\":\"a\tb\"}",
            b"\xef\xbb\xbf{\"event_type\":\"x\"}",
            b"{\"event_type\":\"x\",\"o\":\"\xff\"}",
            br#"{"event_type":"x","o":1E+308}"#,
            br#"{"event_type":"x","o":-0.0e-0,"p":[01]}"#,
            br#"{"event_type":"x","data":{"tool_params":1,"tool_params":2}}"#,
            br#"{"event_type":"x","sequence_num":-0}"#,
            br#"{"event_type":"x",}"#,
            br#"{"event_type":"x"} {}"#,
            b"{\"event_type\":\"x\"}\x0c",
        ];
        for line in cases {
            assert_eq!(
                verdict(line),
                reference(line),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let deep = format!(
            "{{\"event_type\":\"x\",\"o\":{}{}}}",
            "[".repeat(70),
            "]".repeat(70)
        );
        assert_eq!(verdict(deep.as_bytes()), reference(deep.as_bytes()));
        assert!(verdict(deep.as_bytes()).is_some());
    }

    #[test]
    fn a_float_too_big_for_an_f64_is_malformed_however_it_is_written() {
        let nines = "9".repeat(299);
        for number in [
            format!("{nines}e99"),
            format!("{nines}.5e10"),
            "1e309".into(),
        ] {
            let line = format!(r#"{{"event_type":"x","other":{number}}}"#);
            assert!(verdict(line.as_bytes()).is_some(), "{line}");
            assert_eq!(verdict(line.as_bytes()), reference(line.as_bytes()));
        }
    }

    #[test]
    fn a_stream_line_takes_the_single_pass() {
        let line = br#"{"timestamp":"2026-01-01T00:00:00.003Z","attempt_id":"b-1","event_type":"error","executor":"CODEX","model":"m","event_id":"0","data":{"error_message":"a \"quoted\" \u00e9 \ud83d\ude00","cost_usd":0.01,"input_tokens":2000,"prompt":"x\ny"},"sequence_num":1}"#;
        let mut event = Event::default();
        scan(line, &mut event).expect("taken in one pass");
        let data = event.data.unwrap();
        assert_eq!(
            data.error_message.as_deref(),
            Some("a \"quoted\" \u{e9} \u{1f600}")
        );
        assert_eq!(data.cost_usd, Some(0.01));
        assert_eq!(event.attempt_id, Some(Cow::Borrowed("b-1")));
    }

    /// A JSON value of every kind, numbers and strings written in every form; now and then
    /// one that is not JSON or one no float holds.
    fn value() -> impl Strategy<Value = String> {
        let number = prop_oneof![
            Just("0".to_string()),
            Just("-0".into()),
            Just("17".into()),
            Just("-3".into()),
            Just("0.01".into()),
            Just("2.5e3".into()),
            Just("1E-7".into()),
            Just("-0.0e-0".into()),
            Just("123456789012345678901234567890".into()),
            Just("9007199254740993".into()),
            Just("1000000000001".into()),
            Just("0.1000000000000000055511151231257827".into()),
            (0u64..u64::MAX).prop_map(|n| n.to_string()),
            (0u64..2_000_000).prop_map(|n| format!("{}.{:02}", n / 100, n % 100)),
            any::<f64>().prop_map(|f| format!("{f:e}")),
        ];
        let broken = prop_oneof![
            Just("1e400"),
            Just("01"),
            Just("1."),
            Just(".5"),
            Just("1e"),
            Just("+1"),
            Just("nul"),
            Just("\"\\ud800\""),
            Just("\"\\x\""),
            Just("\"\t\""),
            Just("\"\\udc00\""),
        ];
        let piece = prop_oneof![
            Just("a"),
            Just("bench-1"),
            Just("é"),
            Just("😀"),
            Just("\\n"),
            Just("\\\""),
            Just("\\\\"),
            Just("\\/"),
            Just("\\u00e9"),
            Just("\\ud83d\\ude00"),
            Just("\u{7f}"),
            Just("\\u0000"),
            Just("2026-01-01T00:00:00.000Z"),
            Just("success"),
        ];
        let string =
            proptest::collection::vec(piece, 0..4).prop_map(|p| format!("\"{}\"", p.concat()));
        let leaf = prop_oneof![
            2 => Just("null".to_string()), 1 => Just("true".to_string()), 1 => Just("false".to_string()),
            6 => number, 8 => string, 1 => broken.prop_map(str::to_string),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec(("[a-z_]{1,3}", inner), 0..3).prop_map(|m| {
                    let members: Vec<String> =
                        m.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    /// An object of some of the given keys (each with a value of any kind), some other keys,
    /// and an inner `data` object when `data` is given its keys.
    fn object(
        keys: &'static [&'static str],
        data: Option<&'static [&'static str]>,
    ) -> BoxedStrategy<String> {
        let key = prop_oneof![
            8 => proptest::sample::select(keys).prop_map(str::to_string),
            2 => Just("other".to_string()),
            1 => Just("event\\u005ftype".to_string()),
        ];
        let member = (
            key,
            value(),
            proptest::sample::select(&["", " ", "\n\t"][..]),
        );
        let inner = match data {
            Some(keys) => prop_oneof![4 => object(keys, None), 1 => value()].boxed(),
            None => Just(String::new()).boxed(),
        };
        (proptest::collection::vec(member, 0..5), inner)
            .prop_map(move |(members, inner)| {
                let mut fields: Vec<String> = members
                    .iter()
                    .map(|(k, v, ws)| format!("\"{k}\"{ws}:{ws}{v}"))
                    .collect();
                if data.is_some() {
                    fields.insert(0, r#""event_type":"error""#.to_string());
                    fields.push(format!("\"data\":{inner}"));
                }
                format!("{{{}}}", fields.join(","))
            })
            .boxed()
    }

    const EVENT_KEYS: &[&str] = &[
        "model",
        "task_title",
        "event_type",
        "event_type",
        "timestamp",
        "timestamp_quality",
        "attempt_id",
        "event_id",
        "task_id",
        "executor",
        "elapsed_ms",
        "sequence_num",
        "data",
    ];
    const DATA_KEYS: &[&str] = &[
        "success",
        "outcome",
        "metrics",
        "error_message",
        "error_fingerprint",
        "error_category",
        "tool_name",
        "result",
        "prompt_type",
        "status",
        "completion_status",
        "input_tokens",
        "total_tokens",
        "cost_usd",
        "duration_ms",
        "tool_params",
        "tool_params",
    ];

    /// The raw JSON fields (`tool_params`, the success texts) re-encoded: the careful way
    /// keeps them so, the single pass as written.
    fn same_params(event: Event) -> Event {
        fn encoded(text: &mut Cow<str>) {
            let value: Value = serde_json::from_str(text).expect("JSON");
            *text = Cow::Owned(value.to_string());
        }
        let mut event = event;
        if let Some(data) = event.data.as_mut() {
            if !data.tool_params.is_empty() {
                encoded(&mut data.tool_params);
            }
            data.success.iter_mut().for_each(encoded);
            if let Some(Some(success)) = data.metrics.as_mut() {
                encoded(success);
            }
        }
        event
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("AGENTLOG_FUZZ_EXAMPLES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
        ))]

        #[test]
        fn random_bytes_are_judged_as_the_shared_decoder_judges_them(
            line in proptest::collection::vec(any::<u8>(), 0..256)
        ) {
            prop_assert_eq!(verdict(&line), reference(&line));
        }

        #[test]
        fn jsonish_lines_are_judged_as_the_shared_decoder_judges_them(
            parts in proptest::collection::vec(prop_oneof![
                Just("{".to_string()), Just("}".to_string()), Just("[".to_string()), Just("]".to_string()),
                Just(",".to_string()), Just(":".to_string()), Just("null".to_string()),
                Just("\"event_type\":\"error\"".to_string()), Just("\"data\":".to_string()),
                Just("\"attempt_id\":".to_string()), Just("\"sequence_num\":".to_string()),
                Just("\"cost_usd\":".to_string()), Just("\"tool_params\":".to_string()),
                Just("\"\\ud83d\"".to_string()), Just("1e400".to_string()), Just("-1".to_string()),
                Just("2.5".to_string()), Just("\"x\"".to_string()), Just("\t".to_string()),
                "[a-z0-9\"]{0,6}",
            ], 0..24)
        ) {
            let line = format!("{{\"event_type\":\"x\",{}", parts.concat());
            prop_assert_eq!(verdict(line.as_bytes()), reference(line.as_bytes()));
            let bare = parts.concat();
            prop_assert_eq!(verdict(bare.as_bytes()), reference(bare.as_bytes()));
        }

        #[test]
        fn the_single_pass_reads_what_serde_json_reads(line in object(EVENT_KEYS, Some(DATA_KEYS))) {
            prop_assert_eq!(verdict(line.as_bytes()), reference(line.as_bytes()), "{}", line);
            let mut event = Event::default();
            if scan(line.as_bytes(), &mut event).is_some() {
                let map = read::decode(line.as_bytes(), Schema::Event).expect("readable");
                prop_assert_eq!(same_params(event), same_params(from_map(&map)), "{}", line);
            }
        }
    }
}
