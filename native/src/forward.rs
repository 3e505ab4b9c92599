//! `fleet forward`'s reading of a batch of lines: each line's partition (from its attempt id)
//! and each partition's lines joined into one buffer, in one native pass.
//!
//! Only what is certainly a JSON object within bounds is grouped here, read by the engine's
//! one-pass reader (`engine::scan`, which vouches only for what it is sure of). A batch holding
//! any line it is not sure of (blank, a byte-order mark, not UTF-8, deep, a lone surrogate, a
//! huge float, an attempt id that is not text or named twice, not JSON) is refused whole, and
//! Python reads it line by line with its own verdict on each (`jsonline.decode`), as it did
//! before: so a line is forwarded or skipped exactly as then.

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::engine::hash::HashMap;
use crate::engine::scan::Cursor;

/// The fleet partition of an attempt: blake2b (4 bytes, big-endian) modulo the partition
/// count, the same on every machine and in every process.
#[pyfunction]
pub fn partition_of(attempt_id: &str, partitions: u32) -> u32 {
    let mut hasher = Blake2bVar::new(4).expect("4 is a valid blake2b size");
    hasher.update(attempt_id.as_bytes());
    let mut out = [0u8; 4];
    hasher
        .finalize_variable(&mut out)
        .expect("the output is the size asked for");
    u32::from_be_bytes(out) % partitions.max(1)
}

/// The attempt a line names ("" for none), or None when the quick read is not sure of it.
fn attempt_of(line: &[u8]) -> Option<String> {
    let mut cursor = Cursor::new(std::str::from_utf8(line).ok()?);
    let mut attempt: Option<String> = None;
    cursor.ws();
    cursor.object(|c, key| {
        if key != "attempt_id" {
            return c.skip().map(drop);
        }
        if attempt.is_some() {
            return None; // named twice
        }
        attempt = Some(match c.peek()? {
            b'"' => c.string()?.into_owned(),
            b'n' => c.null().map(|_| String::new())?,
            _ => return None, // not text: Python decides what it means
        });
        Some(())
    })?;
    cursor.at_end().then(|| attempt.unwrap_or_default())
}

/// `partition_runs(lines, partitions)`: `[(partition, payload, ends)]`, one per partition
/// named, where `payload` is its lines in order joined by newlines and `ends[i]` the offset
/// just after line i's newline; or None when a line needs Python's careful read.
#[pyfunction]
fn partition_runs<'py>(
    py: Python<'py>,
    lines: Vec<Bound<'py, PyBytes>>,
    partitions: u32,
) -> PyResult<Option<Vec<PyRun<'py>>>> {
    let lines: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
    let Some(runs) = py.detach(|| group(&lines, partitions)) else {
        return Ok(None);
    };
    let joined = |run: &Run| {
        // written straight into the bytes object: no buffer grown and copied again
        PyBytes::new_with(py, run.ends.last().map_or(0, |end| end - 1), |out| {
            let mut at = 0;
            for &i in &run.lines {
                if at > 0 {
                    out[at - 1] = b'\n';
                }
                out[at..at + lines[i].len()].copy_from_slice(lines[i]);
                at += lines[i].len() + 1;
            }
            Ok(())
        })
    };
    runs.iter()
        .map(|run| Ok((run.partition, joined(run)?, run.ends.clone())))
        .collect::<PyResult<_>>()
        .map(Some)
}

/// A partition's lines (their indexes) and the offset after each one's newline in its payload.
#[derive(Default)]
struct Run {
    partition: u32,
    lines: Vec<usize>,
    ends: Vec<usize>,
}

type PyRun<'py> = (u32, Bound<'py, PyBytes>, Vec<usize>);

fn group(lines: &[&[u8]], partitions: u32) -> Option<Vec<Run>> {
    let mut known: HashMap<String, usize> = HashMap::default(); // attempt -> its run
    let mut runs: Vec<Run> = Vec::new();
    let mut run_of: HashMap<u32, usize> = HashMap::default();
    for (i, line) in lines.iter().enumerate() {
        let attempt = attempt_of(line)?;
        let at = match known.get(&attempt) {
            Some(&at) => at,
            None => {
                let partition = partition_of(&attempt, partitions);
                let at = *run_of.entry(partition).or_insert_with(|| {
                    runs.push(Run {
                        partition,
                        ..Run::default()
                    });
                    runs.len() - 1
                });
                known.insert(attempt, at);
                at
            }
        };
        let run = &mut runs[at];
        run.ends
            .push(run.ends.last().copied().unwrap_or(0) + line.len() + 1);
        run.lines.push(i);
    }
    Some(runs)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(partition_of, m)?)?;
    m.add_function(wrap_pyfunction!(partition_runs, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partitions_are_hashlibs() {
        // int.from_bytes(hashlib.blake2b(b"a", digest_size=4).digest(), "big") % 8
        assert_eq!(partition_of("a", 8), 0xca23_4c55 % 8);
    }

    #[test]
    fn runs_keep_order_and_ends_count_newlines() {
        let lines: Vec<&[u8]> = [
            r#"{"attempt_id":"a"}"#,
            r#"{"x":1}"#,
            r#"{"attempt_id":"a","n":2}"#,
        ]
        .iter()
        .map(|l| l.as_bytes())
        .collect();
        let runs = group(&lines, 1).expect("all plain");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].lines, vec![0, 1, 2]);
        assert_eq!(runs[0].ends, vec![19, 27, 52]);
    }

    #[test]
    fn doubtful_lines_refuse_the_batch() {
        for line in [
            &b"   "[..],
            b"[1]",
            b"{\"attempt_id\":1}",
            b"{\"a\":\"\\ud800\"}",
            b"\xef\xbb\xbf{}",
            b"{\"a\":\"\xff\"}",
            b"{\"attempt_id\":\"a\",\"attempt_id\":\"b\"}",
            b"{} {}",
        ] {
            assert!(group(&[line], 4).is_none(), "{line:?}");
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = group(&[&line[..]], 3);
        }
    }
}
