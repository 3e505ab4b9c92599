//! One stream line as the watch reads it: the fields the engine and its detectors use,
//! borrowed from the line's bytes (no `serde_json::Value`, no Python object per event).
//!
//! The verdict (event or malformed, and why) is `read::decode`'s, the decoder every reader
//! shares: the typed decode here accepts only lines that one accepts too. A line it cannot
//! take quickly (one that may nest too deep, hold a number no float holds, a lone surrogate
//! or a control byte, or fails the typed decode) is judged by `read::decode`, and when
//! that one finds it readable (a repeated key, say) the event is taken from its map.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::read::{self, Schema, MAX_DEPTH};

const BOM: &[u8] = b"\xef\xbb\xbf";
const MAX_TOKENS: u64 = 1_000_000_000_000;
const MAX_USD: f64 = 1_000_000.0;
const MAX_MS: f64 = 10.0 * 365.0 * 86_400_000.0;
const MAX_COUNT: u64 = 1 << 53;

/// A string borrowed from the line when it has no escape (serde borrows a `Cow` field, not
/// one inside an `Option`: this newtype carries the borrow).
#[derive(Debug, Deserialize)]
pub struct Str<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

type Text<'a> = Option<Str<'a>>;

/// What the engine reads of an event (`view.WatchEvent`), decoded straight from the line;
/// the other fields of the read schema are decoded for their type and bounds only.
#[derive(Debug, Deserialize)]
pub struct Event<'a> {
    #[serde(borrow)]
    pub event_type: Str<'a>,
    #[serde(borrow, default)]
    pub timestamp: Text<'a>,
    #[serde(borrow, default)]
    pub timestamp_quality: Text<'a>,
    #[serde(borrow, default)]
    pub attempt_id: Text<'a>,
    #[serde(borrow, default)]
    pub event_id: Text<'a>,
    #[serde(borrow, default)]
    pub task_id: Text<'a>,
    #[serde(borrow, default)]
    pub executor: Text<'a>,
    #[serde(default)]
    elapsed_ms: Option<f64>,
    #[serde(default)]
    pub sequence_num: Option<u64>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub data: Option<Data<'a>>,
}

/// What the detectors read of `data` (`view.Data`); `tool_params` is its raw JSON text
/// ("" when absent), compared, never read.
#[derive(Debug, Default, Deserialize)]
pub struct Data<'a> {
    #[serde(borrow, default)]
    pub error_message: Text<'a>,
    #[serde(borrow, default)]
    pub error_fingerprint: Text<'a>,
    #[serde(borrow, default)]
    pub error_category: Text<'a>,
    #[serde(borrow, default)]
    pub tool_name: Text<'a>,
    #[serde(borrow, default)]
    result: Text<'a>,
    #[serde(borrow, default)]
    pub prompt_type: Text<'a>,
    #[serde(borrow, default)]
    pub status: Text<'a>,
    #[serde(borrow, default)]
    pub completion_status: Text<'a>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_tokens: Option<u64>,
    #[serde(default)]
    cache_read_tokens: Option<u64>,
    #[serde(default)]
    reasoning_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
    #[serde(default)]
    duration_ms: Option<f64>,
    #[serde(borrow, default, deserialize_with = "raw")]
    pub tool_params: Cow<'a, str>,
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

/// A line: an event, nothing (blank), or why it is malformed (worded as `view.decode_or_why`).
// not boxed: one line is decoded at a time, on the stack
#[allow(clippy::large_enum_variant)]
pub enum Line<'a> {
    Event(Event<'a>),
    Blank,
    Malformed(String),
}

/// Decodes a line. `scratch` keeps the map of a line that took the careful way, which the
/// event then borrows from.
pub fn decode<'a>(line: &'a [u8], scratch: &'a mut Option<Map<String, Value>>) -> Line<'a> {
    if read::blank(line) {
        return Line::Blank;
    }
    if quick(line) {
        let body = line.strip_prefix(BOM).unwrap_or(line);
        if let Ok(text) = std::str::from_utf8(body) {
            if let Ok(event) = serde_json::from_str::<Event<'a>>(text) {
                if event.within_bounds() {
                    return Line::Event(event);
                }
            }
        }
    }
    match read::decode_guarded(line, Schema::Event) {
        Err(bad) if bad.field == "line" => Line::Malformed(bad.reason),
        Err(bad) => Line::Malformed(format!("not an event ({})", bad.reason)),
        Ok(map) => Line::Event(from_map(scratch.insert(map))),
    }
}

/// Whether the typed decode may judge this line alone: at most `MAX_DEPTH` opening brackets,
/// no control byte inside it, no `\uD...` escape (a surrogate: serde_json refuses a lone one
/// in a field it reads, not in one it skips) and no number that may overflow a float
/// (an exponent of 3 digits, or 300 digits in a row). Strings are not told apart from the
/// rest here: a false alarm only sends the line the careful way.
fn quick(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    // this runs on every line, so each test is a plain `or` over the bytes (no state carried
    // from one byte to the next: done 16 or 32 bytes at a time) or memchr's vector search for
    // a rare byte; the exact checks run only where these found something
    let control = line
        .iter()
        .fold(0u8, |seen, &b| seen | (b.wrapping_sub(0x20) & !b & 0x80)) // b < 0x20
        != 0;
    let (head, tail) = match line.len() {
        0 => (line, line),
        n => (&line[..n - 1], &line[1..]),
    };
    let number_e = head.iter().zip(tail).fold(0u8, |seen, (&a, &b)| {
        seen | (u8::from(a.is_ascii_digit() | (a == b'.')) & u8::from((b | 0x20) == b'e'))
    }) != 0;
    let deep = memchr::memchr2_iter(b'[', b'{', line)
        .nth(MAX_DEPTH)
        .is_some();
    if control || deep || long_digit_run(line) {
        return false;
    }
    let surrogate = memchr::memchr_iter(b'\\', line)
        .any(|at| line.get(at + 1) == Some(&b'u') && matches!(line.get(at + 2), Some(b'd' | b'D')));
    !(surrogate || (number_e && big_exponent(line)))
}

/// 300 digits in a row. Such a run covers a multiple of 300: only the runs through those
/// bytes are measured.
fn long_digit_run(line: &[u8]) -> bool {
    (0..line.len()).step_by(300).any(|at| {
        line[at].is_ascii_digit() && {
            let before = line[..at]
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let after = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
            before + after >= 300
        }
    })
}

/// An `e` after a digit (or a point), then maybe a sign and 3 digits: a float that may overflow.
fn big_exponent(line: &[u8]) -> bool {
    line.windows(2).enumerate().any(|(at, pair)| {
        matches!(pair[1], b'e' | b'E') && (pair[0].is_ascii_digit() || pair[0] == b'.') && {
            let rest = &line[at + 2..];
            let rest = rest
                .strip_prefix(b"-")
                .or_else(|| rest.strip_prefix(b"+"))
                .unwrap_or(rest);
            rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit)
        }
    })
}

fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some) // `null` is no object: the line is malformed
}

fn raw<'de, D>(deserializer: D) -> Result<Cow<'de, str>, D::Error>
where
    D: Deserializer<'de>,
{
    // `null` is kept as its text, as msgspec.Raw keeps it
    <&RawValue>::deserialize(deserializer).map(|raw| Cow::Borrowed(raw.get()))
}

fn within(value: Option<f64>, max: f64) -> bool {
    value.is_none_or(|v| (0.0..=max).contains(&v))
}

impl Event<'_> {
    /// The bounds of `read::decode` (the types were checked by the decode).
    fn within_bounds(&self) -> bool {
        let tokens_ok = |d: &Data| {
            [
                d.input_tokens,
                d.output_tokens,
                d.cache_creation_tokens,
                d.cache_read_tokens,
                d.reasoning_tokens,
                d.total_tokens,
            ]
            .iter()
            .all(|n| n.is_none_or(|n| n <= MAX_TOKENS))
        };
        let _ = &self.data.as_ref().map(|d| &d.result); // read for its type only
        within(self.elapsed_ms, MAX_MS)
            && self.sequence_num.is_none_or(|n| n <= MAX_COUNT)
            && self.data.as_ref().is_none_or(|d| {
                tokens_ok(d) && within(d.cost_usd, MAX_USD) && within(d.duration_ms, MAX_MS)
            })
    }
}

/// The event of a line `read::decode` found readable (checked against the schema there).
fn from_map(map: &Map<String, Value>) -> Event<'_> {
    fn text<'m>(m: &'m Map<String, Value>, k: &str) -> Text<'m> {
        m.get(k)
            .and_then(Value::as_str)
            .map(|s| Str(Cow::Borrowed(s)))
    }
    let data = map.get("data").and_then(Value::as_object).map(|d| Data {
        error_message: text(d, "error_message"),
        error_fingerprint: text(d, "error_fingerprint"),
        error_category: text(d, "error_category"),
        tool_name: text(d, "tool_name"),
        prompt_type: text(d, "prompt_type"),
        status: text(d, "status"),
        completion_status: text(d, "completion_status"),
        cost_usd: d.get("cost_usd").and_then(Value::as_f64),
        tool_params: match d.get("tool_params") {
            Some(v) => Cow::Owned(serde_json::to_string(v).unwrap_or_default()),
            None => Cow::Borrowed(""),
        },
        ..Data::default()
    });
    Event {
        event_type: text(map, "event_type").unwrap_or(Str(Cow::Borrowed(""))),
        timestamp: text(map, "timestamp"),
        timestamp_quality: text(map, "timestamp_quality"),
        attempt_id: text(map, "attempt_id"),
        event_id: text(map, "event_id"),
        task_id: text(map, "task_id"),
        executor: text(map, "executor"),
        elapsed_ms: None,
        sequence_num: map.get("sequence_num").and_then(Value::as_u64),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn verdict(line: &[u8]) -> Option<String> {
        let mut scratch = None;
        match decode(line, &mut scratch) {
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
        let mut scratch = None;
        let Line::Event(event) = decode(line, &mut scratch) else {
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
    fn a_run_of_300_digits_is_found_wherever_it_lies() {
        for start in [0, 1, 150, 299, 300, 301, 599] {
            for len in [299, 300, 301, 650] {
                let mut line = vec![b'x'; start];
                line.extend(std::iter::repeat_n(b'7', len));
                line.extend(b"x1");
                let naive = line
                    .split(|b| !b.is_ascii_digit())
                    .any(|run| run.len() >= 300);
                assert_eq!(long_digit_run(&line), naive, "{start} {len}");
            }
        }
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
    }
}
