//! The values of OTLP attributes as the mapping reads them, with the rules of
//! otlp_values.py and of the Python mapping they replace (truthiness, bytes as hex, the
//! record's attributes over its resource's), and as Python objects when they leave.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::BoundObject;

use super::proto::{AnyValue, ExportLogsServiceRequest, KeyValue, Value};

/// The record's attributes over its resource's (a record's own attribute wins).
pub(super) struct Attrs<'a> {
    pub(super) resource: &'a [KeyValue],
    pub(super) record: &'a [KeyValue],
}

impl<'a> Attrs<'a> {
    /// The value of `key`, None when absent or unset (an unset value still hides the resource's).
    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        let found = self
            .record
            .iter()
            .rev()
            .chain(self.resource.iter().rev())
            .find(|kv| kv.key == key)?;
        found.value.as_ref()?.value.as_ref()
    }

    /// Python's `a.get(x) or a.get(y)`: the first truthy value of `keys`, else the last's.
    pub(super) fn first(&self, keys: &[String]) -> Option<&'a Value> {
        let (last, before) = keys.split_last()?;
        before
            .iter()
            .filter_map(|key| self.get(key))
            .find(|v| truthy(v))
            .or_else(|| self.get(last))
    }

    pub(super) fn text(&self, key: &str) -> Option<&'a str> {
        match self.get(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }
}

pub(super) fn truthy(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.is_empty(),
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Double(f) => *f != 0.0,
        Value::Array(a) => !a.values.is_empty(),
        Value::KvList(kv) => !kv.values.is_empty(),
        Value::Bytes(b) => !b.is_empty(),
    }
}

pub(super) fn chars(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(at, _)| &text[..at])
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes attributes as the hex text the Python handlers have always seen them as, so that
/// every rule that takes text (a session id, a name, a model) takes them too.
pub(super) fn hex_bytes(mut request: ExportLogsServiceRequest) -> ExportLogsServiceRequest {
    for resource_logs in &mut request.resource_logs {
        let resource = resource_logs
            .resource
            .iter_mut()
            .flat_map(|r| &mut r.attributes);
        let records = resource_logs
            .scope_logs
            .iter_mut()
            .flat_map(|s| &mut s.log_records);
        for kv in resource.chain(records.flat_map(|r| &mut r.attributes)) {
            if let Some(AnyValue { value: Some(value) }) = &mut kv.value {
                if let Value::Bytes(bytes) = value {
                    *value = Value::String(hex(bytes));
                }
            }
        }
    }
    request
}

/// An AnyValue as otlp_values.value_of gives it: bytes as hex, arrays as lists, kvlists as dicts.
pub(super) fn py_value<'py>(py: Python<'py>, value: Option<&Value>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        None => py.None().into_bound(py),
        Some(Value::String(s)) => PyString::new(py, s).into_any(),
        Some(Value::Bool(b)) => b.into_pyobject(py)?.to_owned().into_any(),
        Some(Value::Int(i)) => i.into_pyobject(py)?.into_any(),
        Some(Value::Double(f)) => f.into_pyobject(py)?.into_any(),
        Some(Value::Bytes(b)) => PyString::new(py, &hex(b)).into_any(),
        Some(Value::Array(a)) => {
            let items = a
                .values
                .iter()
                .map(|v| py_value(py, v.value.as_ref()))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Some(Value::KvList(kv)) => py_dict(py, &[], &kv.values)?.into_any(),
    })
}

/// `{**resource, **record}` as a dict (the slow path's handlers take one).
pub(super) fn py_dict<'py>(
    py: Python<'py>,
    resource: &[KeyValue],
    record: &[KeyValue],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for kv in resource.iter().chain(record) {
        dict.set_item(
            &kv.key,
            py_value(
                py,
                kv.value.as_ref().and_then(|v: &AnyValue| v.value.as_ref()),
            )?,
        )?;
    }
    Ok(dict)
}

/// A data field, left out when unset (None), as TelemetryMapper._make leaves it out.
pub(super) fn put<'py>(
    data: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    value: impl IntoPyObject<'py>,
) -> PyResult<()> {
    let value = value
        .into_pyobject(data.py())
        .map_err(Into::into)?
        .into_any()
        .into_bound();
    if value.is_none() {
        return Ok(());
    }
    data.set_item(key, value)
}

/// otlp_values.iso_of: nanoseconds since the epoch (0: now) as the stream's ISO time.
pub(super) fn iso_of(nanos: u64) -> String {
    let t = if nanos == 0 {
        crate::record::ids::now()
    } else {
        nanos as f64 / 1e9
    };
    crate::engine::time::iso(t)
}

#[cfg(test)]
mod tests {
    use super::super::proto::{self, LogRecord};
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    proptest! {
        /// Any bytes: a request or an error, never a panic.
        #[test]
        fn decoding_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = ExportLogsServiceRequest::decode(&body[..]);
        }

        /// A valid request with random bytes spliced in: still never a panic.
        #[test]
        fn corrupted_requests_never_panic(at in 0usize..200, junk in proptest::collection::vec(any::<u8>(), 1..16)) {
            let mut body = sample().encode_to_vec();
            let at = at.min(body.len());
            body.splice(at..at, junk);
            let _ = ExportLogsServiceRequest::decode(&body[..]);
        }
    }

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
        }
    }

    fn sample() -> ExportLogsServiceRequest {
        let record = LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000,
            attributes: vec![
                kv("session.id", Value::String("s1".into())),
                kv("duration_ms", Value::Int(40)),
                kv(
                    "tags",
                    Value::Array(proto::ArrayValue {
                        values: vec![AnyValue {
                            value: Some(Value::Bool(true)),
                        }],
                    }),
                ),
            ],
            ..Default::default()
        };
        ExportLogsServiceRequest {
            resource_logs: vec![proto::ResourceLogs {
                resource: Some(proto::Resource {
                    attributes: vec![kv("service.name", Value::String("claude-code".into()))],
                }),
                scope_logs: vec![proto::ScopeLogs {
                    log_records: vec![record],
                }],
            }],
        }
    }

    #[test]
    fn a_record_reads_its_own_attributes_over_its_resources() {
        let request = sample();
        let resource = &request.resource_logs[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes;
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        let attrs = Attrs {
            resource,
            record: &record.attributes,
        };
        assert_eq!(attrs.text("service.name"), Some("claude-code"));
        assert_eq!(attrs.get("duration_ms"), Some(&Value::Int(40)));
        let mut shadowed = record.attributes.clone();
        shadowed.push(KeyValue {
            key: "service.name".into(),
            value: None,
        });
        assert_eq!(
            Attrs {
                resource,
                record: &shadowed
            }
            .get("service.name"),
            None
        );
        assert_eq!(
            ExportLogsServiceRequest::decode(&request.encode_to_vec()[..]).unwrap(),
            request
        );
    }

    #[test]
    fn text_is_cut_at_characters_not_bytes() {
        assert_eq!(chars("héllo", 2), "hé");
        assert_eq!(chars("hi", 1000), "hi");
    }
}
