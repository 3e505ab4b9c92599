//! agentlog's native core, imported from Python as `agentlog._core`.
//!
//! Each part registers its functions and classes from its own module; the Python package
//! stays the public face and this module stays private.

use pyo3::prelude::*;

mod engine;
mod forward;
mod gil;
mod idset;
mod otlp;
mod parts;
mod patterns;
pub mod read;
mod record;
mod redact;

/// The version of the native core, so `agentlog doctor` can say which one is loaded.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_class::<redact::SecretScan>()?;
    read::register(m)?;
    engine::register(m)?;
    record::register(m)?;
    otlp::register(m)?;
    forward::register(m)?;
    parts::register(m)?;
    idset::register(m)?;
    patterns::register(m)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_the_crate_version() {
        assert_eq!(super::version(), env!("CARGO_PKG_VERSION"));
    }
}
