//! What a detector finds, and the formats of Python that alerts are written in.

use std::borrow::Cow;

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;

/// A value of an alert's evidence, typed as the Python detectors typed it (an `int` stays
/// an int in the journal, a float a float).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i128),
    Float(f64),
    Text(String),
}

/// A detector's verdict (`detectors.Finding`); the engine adds attempt, times, key and id.
#[derive(Debug)]
pub struct Finding {
    pub kind: Cow<'static, str>,
    pub subject: String,
    pub severity: Cow<'static, str>,
    pub recommendation: Cow<'static, str>,
    /// evidence fields in order; a missing one (Python's None) is simply not there
    pub evidence: Vec<(&'static str, Value)>,
    /// identity of the triggering event; None: the current event
    pub trigger: Option<String>,
    pub cooldown: bool,
    /// a Python detector's evidence dict, as it gave it
    pub python_evidence: Option<pyo3::Py<pyo3::PyAny>>,
}

impl Finding {
    pub fn new(
        kind: &'static str,
        subject: String,
        severity: &'static str,
        recommendation: &'static str,
        evidence: Vec<(&'static str, Value)>,
    ) -> Finding {
        Finding {
            kind: Cow::Borrowed(kind),
            subject,
            severity: Cow::Borrowed(severity),
            recommendation: Cow::Borrowed(recommendation),
            evidence,
            trigger: None,
            cooldown: true,
            python_evidence: None,
        }
    }
}

/// An alert's key (what its cooldown is kept under): `kind|attempt_id|subject`.
pub fn alert_key(kind: &str, attempt_id: &str, subject: &str) -> String {
    format!("{kind}|{attempt_id}|{subject}")
}

/// Whether a cooldown last set at `last` holds back an alert at `t`.
pub fn held(last: Option<f64>, t: f64, cooldown_s: f64) -> bool {
    last.is_some_and(|last| (t - last).abs() < cooldown_s)
}

/// Deterministic: blake2b (10 bytes) of `key|trigger`, hex, as `hashlib` makes it.
pub fn alert_id(key: &str, trigger: &str) -> String {
    let mut hasher = Blake2bVar::new(10).expect("10 is a valid blake2b size");
    hasher.update(key.as_bytes());
    hasher.update(b"|");
    hasher.update(trigger.as_bytes());
    let mut out = [0u8; 10];
    hasher
        .finalize_variable(&mut out)
        .expect("the buffer is the size asked for");
    out.iter().map(|b| format!("{b:02x}")).collect()
}

/// Python's `f"{x:g}"`: 6 significant digits, trailing zeros dropped, exponent notation
/// below 1e-4 and from 1e6 on.
pub fn python_g(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{x:.5e}"); // rounded to 6 significant digits: "1.50000e3"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        let decimals = (5 - exp).max(0) as usize;
        trim(&format!("{x:.decimals$}")).to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    }
}

fn trim(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// Python's `round(x, 6)`: the nearest 6-decimal value, read back as a float.
pub fn round6(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.6}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hashlib_s() {
        // hashlib.blake2b(b"a|b", digest_size=10).hexdigest()
        assert_eq!(alert_id("a", "b"), "b6da7af76a8d96ad875a");
    }

    #[test]
    fn g_is_python_s() {
        for (x, shown) in [
            (600.0, "600"),
            (1.5, "1.5"),
            (10.0, "10"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e+06"),
            (0.1 + 0.2, "0.3"),
            (2.5e-3, "0.0025"),
        ] {
            assert_eq!(python_g(x), shown);
        }
    }

    #[test]
    fn round6_is_python_s() {
        assert_eq!(round6(0.1 + 0.2), 0.3);
        assert_eq!(round6(2.675e-7), 0.0);
    }
}
