//! The write schema (`events._CHECKS`: the envelope with each event type's typed `data`),
//! read from msgspec's own description of it (`msgspec.inspect`) when the pipeline is made, so
//! it cannot drift from events.py.
//!
//! The check only says yes or no. A no sends the event to `events.validate`, which says why
//! in msgspec's words; so it may refuse what msgspec would take (a `str` subclass, a dict with
//! an int key) but must never take what msgspec refuses: tests/test_write_schema.py holds it to
//! msgspec on generated events.

use std::collections::HashMap;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyString};
use serde_json::{Map, Value};

use crate::read::{number, Num};

enum Type {
    Str,
    Int { ge: i128, le: i128 },
    Float { ge: f64, le: f64 },
    Dict, // dict[str, Any]
    Any,
    Struct(Fields),
}

struct Field {
    ty: Type,
    nullable: bool,
    required: bool,
}

/// A struct's fields, searched in order: a score of names, where a linear search that
/// compares lengths first beats hashing each key.
#[derive(Default)]
struct Fields {
    fields: Vec<(String, Field)>,
    required: Vec<String>,
}

impl Fields {
    fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

/// `events._CHECKS` as a native check: `accepts(event)` for a dict, `accepts_line(bytes)` for
/// a JSON line (tests); the pipeline calls the same checks directly.
#[pyclass(frozen, module = "agentlog._core")]
pub struct WriteSchema {
    kinds: HashMap<String, Fields>,
}

impl WriteSchema {
    /// The typed check of an event of type `kind` (None: a type the schema does not know).
    pub fn accepts_dict(&self, kind: &str, event: &Bound<'_, PyDict>) -> Option<bool> {
        Some(dict_fits(self.kinds.get(kind)?, event))
    }

    /// The same check of a decoded JSON line; `data` absent or null counts as `{}` (the
    /// recorder puts one there).
    pub fn accepts_map(&self, kind: &str, event: &Map<String, Value>) -> Option<bool> {
        let fields = self.kinds.get(kind)?;
        let Some(Field {
            ty: Type::Struct(data_fields),
            ..
        }) = fields.get("data")
        else {
            return Some(false);
        };
        let empty = Map::new();
        let data = match event.get("data") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(data)) => data,
            Some(_) => return Some(false),
        };
        let envelope = |(name, value): (&String, &Value)| {
            name == "data" || fields.get(name).is_none_or(|f| json_fits(f, value))
        };
        Some(
            map_fits(data_fields, data)
                && event.iter().all(envelope)
                && fields
                    .required
                    .iter()
                    .all(|name| name == "data" || event.contains_key(name)),
        )
    }
}

fn dict_fits(fields: &Fields, dict: &Bound<'_, PyDict>) -> bool {
    let mut present = 0;
    for (key, value) in dict.iter() {
        let Ok(key) = key.cast_exact::<PyString>() else {
            return false;
        };
        let Ok(name) = key.to_str() else { return false };
        if let Some(field) = fields.get(name) {
            if !py_fits(field, &value) {
                return false;
            }
            present += usize::from(field.required);
        }
    }
    present == fields.required.len()
}

fn py_fits(field: &Field, value: &Bound<'_, PyAny>) -> bool {
    if value.is_none() {
        return field.nullable;
    }
    match &field.ty {
        Type::Str => value.is_exact_instance_of::<PyString>(),
        Type::Int { ge, le } => {
            value.is_exact_instance_of::<PyInt>()
                && int_of(value).is_some_and(|i| *ge <= i && i <= *le)
        }
        Type::Float { ge, le } => {
            let float = if value.is_exact_instance_of::<PyFloat>() {
                value.extract::<f64>().ok()
            } else if value.is_exact_instance_of::<PyInt>() {
                int_of(value).map(|i| i as f64)
            } else {
                None
            };
            float.is_some_and(|f| *ge <= f && f <= *le) // NaN fails both
        }
        Type::Dict => value.cast_exact::<PyDict>().is_ok_and(|d| {
            d.keys()
                .iter()
                .all(|k| k.is_exact_instance_of::<PyString>())
        }),
        Type::Any => true,
        Type::Struct(inner) => value
            .cast_exact::<PyDict>()
            .is_ok_and(|d| dict_fits(inner, d)),
    }
}

/// A Python int as i128 (one beyond it is out of every bound the schema has).
fn int_of(value: &Bound<'_, PyAny>) -> Option<i128> {
    match value.extract::<i64>() {
        Ok(i) => Some(i.into()),
        Err(_) => value.extract::<i128>().ok(),
    }
}

fn map_fits(fields: &Fields, map: &Map<String, Value>) -> bool {
    map.iter()
        .all(|(name, value)| fields.get(name).is_none_or(|f| json_fits(f, value)))
        && fields.required.iter().all(|name| map.contains_key(name))
}

fn json_fits(field: &Field, value: &Value) -> bool {
    match (&field.ty, value) {
        (_, Value::Null) => field.nullable,
        (Type::Str, Value::String(_)) => true,
        (Type::Int { ge, le }, Value::Number(n)) => match number(n) {
            Num::Int(i) => *ge <= i && i <= *le,
            Num::Big(_) | Num::Float(_) => false,
        },
        (Type::Float { ge, le }, Value::Number(n)) => {
            let f = match number(n) {
                Num::Int(i) => i as f64,
                Num::Float(f) => f,
                Num::Big(_) => return false,
            };
            *ge <= f && f <= *le
        }
        (Type::Dict, Value::Object(_)) | (Type::Any, _) => true,
        (Type::Struct(inner), Value::Object(map)) => map_fits(inner, map),
        _ => false,
    }
}

// --- from msgspec's description ------------------------------------------------------------

fn fields_of(info: &Bound<'_, PyAny>) -> PyResult<Fields> {
    let mut fields = Fields::default();
    for field in info.getattr("fields")?.try_iter()? {
        let field = field?;
        let name: String = field.getattr("encode_name")?.extract()?;
        let required: bool = field.getattr("required")?.extract()?;
        let (ty, nullable) = type_of(&field.getattr("type")?)?;
        if required {
            fields.required.push(name.clone());
        }
        fields.fields.push((
            name,
            Field {
                ty,
                nullable,
                required,
            },
        ));
    }
    Ok(fields)
}

/// A msgspec type as (type, whether None is allowed); a type this check does not know is an
/// error, so a new kind of field in events.py fails at import instead of going unchecked.
fn type_of(info: &Bound<'_, PyAny>) -> PyResult<(Type, bool)> {
    let name = info.get_type().name()?.to_string();
    let bound = |attr: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        let value = info.getattr(attr)?;
        Ok((!value.is_none()).then_some(value))
    };
    let unsupported =
        || PyTypeError::new_err(format!("the native write check does not know {info}"));
    for attr in [
        "gt",
        "lt",
        "multiple_of",
        "min_length",
        "max_length",
        "pattern",
    ] {
        if info.hasattr(attr)? && bound(attr)?.is_some() {
            return Err(unsupported());
        }
    }
    let ty = match name.as_str() {
        "UnionType" => {
            let members: Vec<Bound<'_, PyAny>> = info.getattr("types")?.extract()?;
            let (others, nones): (Vec<_>, Vec<_>) = members
                .iter()
                .partition(|t| t.get_type().name().is_ok_and(|n| n != "NoneType"));
            return match (others.as_slice(), nones.len()) {
                ([one], 1) => Ok((type_of(one)?.0, true)),
                _ => Err(unsupported()),
            };
        }
        "StrType" => Type::Str,
        "IntType" => Type::Int {
            ge: bound("ge")?.map_or(Ok(i128::MIN), |b| b.extract())?,
            le: bound("le")?.map_or(Ok(i128::MAX), |b| b.extract())?,
        },
        "FloatType" => Type::Float {
            ge: bound("ge")?.map_or(Ok(f64::NEG_INFINITY), |b| b.extract())?,
            le: bound("le")?.map_or(Ok(f64::INFINITY), |b| b.extract())?,
        },
        "DictType" => {
            let key = info.getattr("key_type")?.get_type().name()?.to_string();
            let value = info.getattr("value_type")?.get_type().name()?.to_string();
            if key != "StrType" || value != "AnyType" {
                return Err(unsupported());
            }
            Type::Dict
        }
        "AnyType" => return Ok((Type::Any, true)), // None is a value like any other
        "StructType" => Type::Struct(fields_of(info)?),
        _ => return Err(unsupported()),
    };
    Ok((ty, false))
}

#[pymethods]
impl WriteSchema {
    /// `WriteSchema(checks)`: `checks` maps an event type to its msgspec Struct.
    #[new]
    fn new(py: Python<'_>, checks: &Bound<'_, PyDict>) -> PyResult<Self> {
        let type_info = py.import("msgspec.inspect")?.getattr("type_info")?;
        let mut kinds = HashMap::new();
        for (kind, cls) in checks.iter() {
            let info = type_info.call1((cls,))?;
            kinds.insert(kind.extract()?, fields_of(&info)?);
        }
        Ok(WriteSchema { kinds })
    }

    /// Whether the event (a dict with its `data`) passes the typed check of its event type.
    fn accepts(&self, event: &Bound<'_, PyAny>) -> bool {
        let Ok(dict) = event.cast_exact::<PyDict>() else {
            return false;
        };
        let kind = dict.get_item("event_type").ok().flatten();
        kind.as_ref()
            .and_then(|k| k.cast::<PyString>().ok()?.to_str().ok().map(str::to_owned))
            .and_then(|k| self.accepts_dict(&k, dict))
            .unwrap_or(false)
    }

    /// The same for a JSON line, read as the pipeline reads `agentlog emit -`'s lines.
    fn accepts_line(&self, line: &[u8]) -> bool {
        let Ok(map) = crate::read::decode_guarded(line, crate::read::Schema::Event) else {
            return false;
        };
        match map.get("event_type") {
            Some(Value::String(kind)) => self.accepts_map(kind, &map).unwrap_or(false),
            _ => false,
        }
    }
}
