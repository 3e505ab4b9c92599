//! A set of ids that holds many in little memory: the alerts journal's "already written".
//! A long watch writes hundreds of thousands of alerts; their ids as Python strings in a
//! `set` took ~96 bytes each (23 MiB for 243k), here an alert id's 20 hex digits take 10.

use pyo3::prelude::*;
use pyo3::types::PyIterator;

use crate::engine::hash::HashSet;

#[pyclass(module = "agentlog._core")]
#[derive(Default)]
pub struct IdSet {
    digests: HashSet<[u8; 10]>, // ids of 20 lowercase hex digits (every alert id), as bytes
    others: HashSet<String>,    // any other id, as it is
}

#[pymethods]
impl IdSet {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    fn add(&mut self, id: &str) {
        match packed(id) {
            Some(bytes) => self.digests.insert(bytes),
            None => self.others.insert(id.to_string()),
        };
    }

    /// Add every id of an iterable of strings.
    fn update(&mut self, ids: &Bound<'_, PyAny>) -> PyResult<()> {
        for id in PyIterator::from_object(ids)? {
            self.add(id?.extract()?);
        }
        Ok(())
    }

    fn __contains__(&self, id: &str) -> bool {
        match packed(id) {
            Some(bytes) => self.digests.contains(&bytes),
            None => self.others.contains(id),
        }
    }

    fn __len__(&self) -> usize {
        self.digests.len() + self.others.len()
    }
}

/// The 10 bytes of 20 lowercase hex digits (one way only: upper case is another id).
fn packed(id: &str) -> Option<[u8; 10]> {
    let digits = id.as_bytes();
    if digits.len() != 20 {
        return None;
    }
    let mut out = [0u8; 10];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<IdSet>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_pack_one_to_one_and_others_stay_strings() {
        let mut set = IdSet::new();
        set.add("b6da7af76a8d96ad875a");
        set.add("B6DA7AF76A8D96AD875A");
        set.add("decision-1");
        assert_eq!(set.digests.len(), 1);
        assert_eq!(set.others.len(), 2);
        assert!(set.__contains__("b6da7af76a8d96ad875a"));
        assert!(set.__contains__("B6DA7AF76A8D96AD875A"));
        assert!(!set.__contains__("b6da7af76a8d96ad875b"));
        assert!(!set.__contains__("b6da7af76a8d96ad875"));
        assert_eq!(packed("0123456789abcdefabcd").map(|b| b[9]), Some(0xcd));
        assert_eq!(packed("0123456789abcdefabcg"), None);
    }
}
