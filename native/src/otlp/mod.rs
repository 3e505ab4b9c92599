//! `agentlog otel serve`'s hot path (`agentlog._core.LogMapper`, driven by otel/mapping.py's
//! `TelemetryMapper`): an OTLP log export request decoded (prost, without the GIL) and each
//! record mapped to agentlog events.
//!
//! The mapping is data: each agent module (agents/<name>.py) describes its telemetry events
//! as `Mapped(shape, fields)` — which of the shapes below an event is, and which attributes
//! its fields come from — and this module reads the table once. An event an agent maps with
//! a Python function instead (a plugin, or a shape this module does not know) is the slow
//! path: its attributes become a dict and the function is called, as before.
//!
//! The per-session memory (sessions started, sessions whose logs carry usage) is the
//! `TelemetryMapper`'s, shared with the Python handlers and the metrics and traces mapping.

pub mod proto;
mod values;

use std::collections::HashMap;

use prost::Message;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySet, PyString};

use self::proto::{ExportLogsServiceRequest, KeyValue, LogRecord, Value};
use self::values::{chars, hex_bytes, iso_of, put, py_dict, py_value, truthy, Attrs};

pyo3::create_exception!(
    _core,
    DecodeError,
    PyValueError,
    "The body is not the OTLP request it was sent as."
);

/// The shapes of event a telemetry record can be mapped to natively (agents/base.py `Mapped`).
#[derive(Clone, Copy)]
enum Shape {
    /// session_start (the session's first) or followup_sent: `prompt`, `prompt_length`
    Prompt,
    /// tool_call + tool_result (+ error when it failed): `name`, `params`, `call_id`,
    /// `success`, `output`, `duration_ms`, `error`
    Tool,
    /// usage: every field as given, priced when it has no cost
    Usage,
    /// error: `message` (or the default), then every other field as given
    Error,
}

#[derive(Clone, Copy)]
enum Kind {
    Any,
    Int,
    Float,
}

/// An event field: the first of `keys` set on the record (`Attrs::first`), read as `kind`.
struct Field {
    name: String,
    key: Py<PyString>, // the name, interned
    keys: Vec<String>,
    kind: Kind,
}

struct Spec {
    shape: Shape,
    fields: Vec<Field>, // without `model`, which every shape reads
    model: Vec<String>,
    default: String,
}

enum Handler {
    Native(Spec),
    Python(Py<PyAny>),
}

struct Agent {
    executor: Py<PyString>,
    events: HashMap<String, Handler>,
}

/// The Python this module calls: the mapper's memory, the pricing, and the conversions of
/// otlp_values for the values the fast ones below do not settle. (Not the mapper itself,
/// which holds this: each request is given it, so no cycle keeps the two alive.)
struct Calls {
    started: Py<PyDict>,
    logged_usage: Py<PySet>,
    pricing: Py<PyAny>,
    as_int: Py<PyAny>,
    as_float: Py<PyAny>,
    json_or_text: Py<PyAny>,
}

#[pyclass(module = "agentlog._core", frozen)]
pub struct LogMapper {
    agents: HashMap<String, Agent>,
    prefixes: Vec<String>,             // "claude_code.", ...
    services: HashMap<String, String>, // service.name -> agent
    max_sessions: usize,
    calls: Calls,
}

#[pymethods]
impl LogMapper {
    /// `agents`: prefix -> (executor, {bare event name: Mapped | handler}); `services`:
    /// service.name -> prefix; `host`: the TelemetryMapper whose memory this shares.
    #[new]
    fn new(
        py: Python<'_>,
        host: Bound<'_, PyAny>,
        agents: Bound<'_, PyDict>,
        services: HashMap<String, String>,
        max_sessions: usize,
    ) -> PyResult<Self> {
        let values = py.import("agentlog.otlp_values")?;
        let mut table = HashMap::new();
        for (prefix, agent) in agents.iter() {
            let (executor, events): (Bound<'_, PyString>, Bound<'_, PyDict>) = agent.extract()?;
            let mut handlers = HashMap::new();
            for (name, handler) in events.iter() {
                handlers.insert(name.extract()?, handler_of(&handler)?);
            }
            table.insert(
                prefix.extract()?,
                Agent {
                    executor: executor.unbind(),
                    events: handlers,
                },
            );
        }
        let prefixes = table.keys().map(|p| format!("{p}.")).collect();
        let calls = Calls {
            started: host.getattr("started")?.cast_into::<PyDict>()?.unbind(),
            logged_usage: host.getattr("logged_usage")?.cast_into::<PySet>()?.unbind(),
            pricing: host.getattr("pricing")?.unbind(),
            as_int: values.getattr("as_int")?.unbind(),
            as_float: values.getattr("as_float")?.unbind(),
            json_or_text: values.getattr("json_or_text")?.unbind(),
        };
        Ok(LogMapper {
            agents: table,
            prefixes,
            services,
            max_sessions,
            calls,
        })
    }

    /// The events of one ExportLogsServiceRequest (protobuf), mapped as they are asked
    /// for, in lists of about `chunk` (so they can be recorded while the rest is mapped);
    /// DecodeError at once when the body is not one. `host`: the TelemetryMapper (its
    /// `skip`, and the first argument of the Python handlers).
    fn logs(
        slf: &Bound<'_, Self>,
        host: Bound<'_, PyAny>,
        body: &[u8],
        chunk: usize,
    ) -> PyResult<LogEvents> {
        let request = slf
            .py()
            .detach(|| ExportLogsServiceRequest::decode(body).map(hex_bytes))
            .map_err(|e| {
                DecodeError::new_err(format!("cannot decode ExportLogsServiceRequest: {e}"))
            })?;
        Ok(LogEvents {
            mapper: slf.clone().unbind(),
            host: host.unbind(),
            request,
            at: (0, 0, 0),
            chunk: chunk.max(1),
        })
    }
}

/// A request's events, a list at a time (`LogMapper.logs`).
#[pyclass(module = "agentlog._core")]
pub struct LogEvents {
    mapper: Py<LogMapper>,
    host: Py<PyAny>,
    request: ExportLogsServiceRequest,
    at: (usize, usize, usize), // the next record: resource, scope, record
    chunk: usize,
}

#[pymethods]
impl LogEvents {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let mapper = self.mapper.clone_ref(py);
        let mapper = mapper.get();
        let out = PyList::empty(py);
        while out.len() < self.chunk {
            let Some((resource, scope, record)) = self.advance() else {
                break;
            };
            let resource_logs = &self.request.resource_logs[resource];
            let attributes = resource_logs
                .resource
                .as_ref()
                .map_or(&[][..], |r| &r.attributes);
            mapper.record(
                py,
                self.host.bind(py),
                &out,
                &resource_logs.scope_logs[scope].log_records[record],
                attributes,
            )?;
        }
        Ok((!out.is_empty()).then_some(out))
    }
}

impl LogEvents {
    /// The indices of the next record, if any, and the position moved past it.
    fn advance(&mut self) -> Option<(usize, usize, usize)> {
        let (mut resource, mut scope, mut record) = self.at;
        loop {
            let scopes = &self.request.resource_logs.get(resource)?.scope_logs;
            match scopes.get(scope) {
                None => (resource, scope, record) = (resource + 1, 0, 0),
                Some(s) if record >= s.log_records.len() => (scope, record) = (scope + 1, 0),
                Some(_) => {
                    self.at = (resource, scope, record + 1);
                    return Some((resource, scope, record));
                }
            }
        }
    }
}

fn handler_of(handler: &Bound<'_, PyAny>) -> PyResult<Handler> {
    let Ok((shape, fields, default)) = handler.extract::<(String, Bound<'_, PyDict>, String)>()
    else {
        return Ok(Handler::Python(handler.clone().unbind()));
    };
    let shape = match shape.as_str() {
        "prompt" => Shape::Prompt,
        "tool" => Shape::Tool,
        "usage" => Shape::Usage,
        "error" => Shape::Error,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown telemetry shape {other:?}"
            )))
        }
    };
    let mut spec = Spec {
        shape,
        fields: Vec::new(),
        model: vec!["model".to_owned()],
        default,
    };
    for (name, attr) in fields.iter() {
        let (name, (keys, kind)): (String, (Vec<String>, String)) =
            (name.extract()?, attr.extract()?);
        let kind = match kind.as_str() {
            "any" => Kind::Any,
            "int" => Kind::Int,
            "float" => Kind::Float,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown attribute kind {other:?}"
                )))
            }
        };
        if name == "model" {
            spec.model = keys;
        } else {
            let key = PyString::intern(handler.py(), &name).unbind();
            spec.fields.push(Field {
                name,
                key,
                keys,
                kind,
            });
        }
    }
    Ok(Handler::Native(spec))
}

/// What one record is about: its session, time and whose event.
struct Record<'a, 'py> {
    attrs: Attrs<'a>,
    session: Bound<'py, PyString>,
    timestamp: Bound<'py, PyString>,
    executor: &'a Bound<'py, PyString>,
    out: &'a Bound<'py, PyList>,
}

impl LogMapper {
    fn record(
        &self,
        py: Python<'_>,
        host: &Bound<'_, PyAny>,
        out: &Bound<'_, PyList>,
        record: &LogRecord,
        resource: &[KeyValue],
    ) -> PyResult<()> {
        let attrs = Attrs {
            resource,
            record: &record.attributes,
        };
        let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::String(s)) => s.as_str(),
            _ => "",
        };
        let name = [
            attrs.text("event.name").unwrap_or(""),
            record.event_name.as_str(),
            body,
        ]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or("");
        let Some((agent, handler)) = self.handler(name, attrs.text("service.name").unwrap_or(""))
        else {
            return self.skip(
                host,
                &format!("unmapped:{}", if name.is_empty() { "?" } else { name }),
            );
        };
        let session = ["session.id", "conversation.id", "thread.id"]
            .into_iter()
            .find_map(|k| attrs.get(k).filter(|v| truthy(v)));
        let Some(Value::String(session)) = session else {
            return self.skip(host, "no_session_id");
        };
        let timestamp = match attrs.text("event.timestamp") {
            Some(ts) => PyString::new(py, ts),
            None => PyString::new(
                py,
                &iso_of(if record.time_unix_nano != 0 {
                    record.time_unix_nano
                } else {
                    record.observed_time_unix_nano
                }),
            ),
        };
        match handler {
            Handler::Python(handler) => {
                let dict = py_dict(py, resource, &record.attributes)?;
                let events =
                    handler
                        .bind(py)
                        .call1((host, dict, session, timestamp, &agent.executor))?;
                for event in events.try_iter()? {
                    out.append(event?)?;
                }
                Ok(())
            }
            Handler::Native(spec) => {
                let r = Record {
                    attrs,
                    session: PyString::new(py, session),
                    timestamp,
                    executor: agent.executor.bind(py),
                    out,
                };
                self.native(py, &r, spec)
            }
        }
    }

    /// The agent and handler of an event name, prefixed (`claude_code.api_request`) or bare
    /// (`api_request`, then the resource's service.name says whose).
    fn handler(&self, name: &str, service: &str) -> Option<(&Agent, &Handler)> {
        let (agent, bare) = if self.prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            name.rsplit_once('.')?
        } else {
            (self.services.get(service)?.as_str(), name)
        };
        let agent = self.agents.get(agent)?;
        Some((agent, agent.events.get(bare)?))
    }

    fn skip(&self, host: &Bound<'_, PyAny>, reason: &str) -> PyResult<()> {
        host.call_method1(intern!(host.py(), "skip"), (reason,))?;
        Ok(())
    }

    fn native(&self, py: Python<'_>, r: &Record<'_, '_>, spec: &Spec) -> PyResult<()> {
        let model = py_value(py, r.attrs.first(&spec.model))?;
        // a role the spec does not name is read from the attribute of its own name
        let field = |role: &str| {
            spec.fields
                .iter()
                .find(|f| f.name == role)
                .map_or_else(|| r.attrs.get(role), |f| r.attrs.first(&f.keys))
        };
        match spec.shape {
            Shape::Prompt => {
                let text = match field("prompt") {
                    Some(Value::String(s)) => PyString::new(py, s).into_any(),
                    _ => py.None().into_bound(py),
                };
                let length = self.as_int(py, field("prompt_length"))?;
                let data = PyDict::new(py);
                if self.started(py, r)? {
                    put(&data, intern!(py, "message"), text)?;
                    put(&data, intern!(py, "reason"), intern!(py, "user"))?;
                    put(&data, intern!(py, "prompt_length"), length)?;
                    self.event(py, r, intern!(py, "followup_sent"), data, &model)
                } else {
                    put(&data, intern!(py, "prompt"), text)?;
                    put(&data, intern!(py, "prompt_type"), intern!(py, "initial"))?;
                    put(&data, intern!(py, "prompt_length"), length)?;
                    self.event(py, r, intern!(py, "session_start"), data, &model)
                }
            }
            Shape::Tool => self.tool(py, r, &field),
            Shape::Usage => {
                let data = PyDict::new(py);
                self.fields(py, r, spec, &data)?;
                self.calls.logged_usage.bind(py).add(&r.session)?;
                let pricing = self.calls.pricing.bind(py);
                let cost = data.get_item(intern!(py, "cost_usd"))?;
                if !pricing.is_none() && cost.is_none_or(|c| c.is_none()) {
                    let priced_as = if model.is_instance_of::<PyString>() {
                        model.clone()
                    } else {
                        py.None().into_bound(py)
                    };
                    pricing.call_method1(intern!(py, "price_usage"), (priced_as, &data))?;
                }
                data.set_item(intern!(py, "model"), &model)?;
                drop_unset(&data)?; // kept (in their places) for the pricing until now
                self.event(py, r, intern!(py, "usage"), data, &model)
            }
            Shape::Error => {
                let message = match field("message").filter(|v| truthy(v)) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => py_value(py, Some(other))?.str()?.to_string(),
                    None => spec.default.clone(),
                };
                let data = PyDict::new(py);
                data.set_item(intern!(py, "error_message"), chars(&message, 1000))?;
                self.fields(py, r, spec, &data)?;
                data.del_item(intern!(py, "message")).ok();
                drop_unset(&data)?;
                self.event(py, r, intern!(py, "error"), data, &model)
            }
        }
    }

    fn tool<'a>(
        &self,
        py: Python<'_>,
        r: &Record<'_, '_>,
        field: &dyn Fn(&str) -> Option<&'a Value>,
    ) -> PyResult<()> {
        let name = match field("name") {
            Some(Value::String(s)) if !s.is_empty() => s.as_str(),
            _ => "unknown",
        };
        let py_name = PyString::new(py, name);
        let params = match field("params") {
            Some(Value::String(s)) if s.starts_with(['{', '[']) => {
                self.calls.json_or_text.bind(py).call1((s,))?
            }
            other => py_value(py, other)?,
        };
        let call_id = py_value(py, field("call_id"))?;
        let success = match field("success") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.to_lowercase() == "true",
            _ => false,
        };
        let none = py.None().into_bound(py);
        let call = PyDict::new(py);
        put(&call, intern!(py, "tool_name"), &py_name)?;
        put(&call, intern!(py, "tool_params"), params)?;
        put(&call, intern!(py, "call_id"), &call_id)?;
        self.event(py, r, intern!(py, "tool_call"), call, &none)?;
        let result = PyDict::new(py);
        let outcome = if success {
            intern!(py, "success")
        } else {
            intern!(py, "error")
        };
        put(&result, intern!(py, "tool_name"), &py_name)?;
        put(&result, intern!(py, "call_id"), &call_id)?;
        put(&result, intern!(py, "result"), outcome)?;
        put(
            &result,
            intern!(py, "result_data"),
            py_value(py, field("output"))?,
        )?;
        put(
            &result,
            intern!(py, "duration_ms"),
            self.as_float(py, field("duration_ms"))?,
        )?;
        self.event(py, r, intern!(py, "tool_result"), result, &none)?;
        if success {
            return Ok(());
        }
        let message = match field("error") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => format!("{name} failed"),
        };
        let error = PyDict::new(py);
        put(
            &error,
            intern!(py, "error_message"),
            PyString::new(py, chars(&message, 1000)),
        )?;
        put(&error, intern!(py, "tool_name"), &py_name)?;
        put(&error, intern!(py, "call_id"), &call_id)?;
        self.event(py, r, intern!(py, "error"), error, &none)
    }

    /// Every field of the spec, by its kind (None when unset: the pricing reads them so).
    fn fields(
        &self,
        py: Python<'_>,
        r: &Record<'_, '_>,
        spec: &Spec,
        data: &Bound<'_, PyDict>,
    ) -> PyResult<()> {
        for field in &spec.fields {
            let value = r.attrs.first(&field.keys);
            let value = match field.kind {
                Kind::Any => py_value(py, value)?,
                Kind::Int => self.as_int(py, value)?,
                Kind::Float => self.as_float(py, value)?,
            };
            data.set_item(field.key.bind(py), value)?;
        }
        Ok(())
    }

    /// otlp_values.as_int: ints and decimal strings here, anything else there.
    fn as_int<'py>(&self, py: Python<'py>, value: Option<&Value>) -> PyResult<Bound<'py, PyAny>> {
        let fast = match value {
            None => return Ok(py.None().into_bound(py)),
            Some(Value::Int(i)) => Some(*i),
            Some(Value::String(s)) if s.is_empty() => return Ok(py.None().into_bound(py)),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match fast {
            Some(i) => Ok(i.into_pyobject(py)?.into_any()),
            None => self.calls.as_int.bind(py).call1((py_value(py, value)?,)),
        }
    }

    /// otlp_values.as_float: numbers and plain decimal strings here, anything else there.
    fn as_float<'py>(&self, py: Python<'py>, value: Option<&Value>) -> PyResult<Bound<'py, PyAny>> {
        let fast = match value {
            None => return Ok(py.None().into_bound(py)),
            Some(Value::Double(f)) => Some(*f),
            Some(Value::Int(i)) => Some(*i as f64),
            Some(Value::String(s)) if s.is_empty() => return Ok(py.None().into_bound(py)),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        };
        match fast {
            Some(f) => Ok(f.into_pyobject(py)?.into_any()),
            None => self.calls.as_float.bind(py).call1((py_value(py, value)?,)),
        }
    }

    fn started(&self, py: Python<'_>, r: &Record<'_, '_>) -> PyResult<bool> {
        match self.calls.started.bind(py).get_item(&r.session)? {
            Some(seen) => seen.is_truthy(),
            None => Ok(false),
        }
    }

    /// TelemetryMapper.event: one event, preceded by the session's session_start when it is its first.
    fn event(
        &self,
        py: Python<'_>,
        r: &Record<'_, '_>,
        kind: &Bound<'_, PyString>,
        data: Bound<'_, PyDict>,
        model: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let seen = self.started(py, r)?;
        let starts = kind.to_str()? == "session_start";
        if starts && seen {
            return Ok(());
        }
        if !seen {
            if !starts {
                let start = PyDict::new(py);
                start.set_item(intern!(py, "prompt_type"), intern!(py, "initial"))?;
                r.out
                    .append(self.make(py, r, intern!(py, "session_start"), start, model)?)?;
            }
            let started = self.calls.started.bind(py);
            started.set_item(&r.session, true)?;
            if started.len() > self.max_sessions {
                if let Some((oldest, _)) = started.iter().next() {
                    started.del_item(oldest)?;
                }
            }
        }
        r.out.append(self.make(py, r, kind, data, model)?)
    }

    fn make<'py>(
        &self,
        py: Python<'py>,
        r: &Record<'_, 'py>,
        kind: &Bound<'py, PyString>,
        data: Bound<'py, PyDict>,
        model: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let event = PyDict::new(py);
        event.set_item(intern!(py, "timestamp"), &r.timestamp)?;
        event.set_item(intern!(py, "attempt_id"), &r.session)?;
        event.set_item(intern!(py, "event_type"), kind)?;
        event.set_item(intern!(py, "executor"), r.executor)?;
        event.set_item(intern!(py, "data"), data)?;
        if model
            .cast::<PyString>()
            .is_ok_and(|m| m.to_str().is_ok_and(|m| !m.is_empty()))
        {
            event.set_item(intern!(py, "model"), model)?;
        }
        Ok(event)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LogMapper>()?;
    m.add_class::<LogEvents>()?;
    m.add("DecodeError", m.py().get_type::<DecodeError>())
}

/// The fields left unset (None) dropped from an event's data.
fn drop_unset(data: &Bound<'_, PyDict>) -> PyResult<()> {
    let unset: Vec<_> = data
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
    unset.into_iter().try_for_each(|key| data.del_item(key))
}
