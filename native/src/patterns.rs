//! Which of a list of regexes hit a text, in one pass (`agentlog._core.PatternSet`), for the
//! error taxonomy (`intel/taxonomy.py`): its ~100 rules searched one by one with Python's
//! `re`, case-insensitively (so with no literal to skip to), took ~0.15 ms a message, most of
//! what recording an error event cost.
//!
//! The patterns are Python `re` syntax, searched as `re.IGNORECASE | re.MULTILINE` does. One
//! the `regex` crate rejects (a look-around, a back-reference, `\N{...}`) or might read
//! otherwise (inside a class, a `[` or the set operations `&&`, `--`, `~~`: literals to `re`;
//! verbose mode, which keeps a class's spaces in `re` only) is foreign: the caller searches it
//! with `re`. So is every pattern for a text that is not plain ASCII or holds U+001C-U+001F:
//! there the two differ in Unicode's fine print (to `re` those four are whitespace and `²` a
//! word character; to the `regex` crate, neither).

use pyo3::prelude::*;
use pyo3::types::PyString;
use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind};

#[pyclass(frozen, module = "agentlog._core")]
pub struct PatternSet {
    /// The patterns taken natively, in one automaton (none: all are foreign).
    regex: Option<Regex>,
    /// For each pattern of the automaton, its index in the list given.
    index: Vec<usize>,
    /// The indices of the foreign patterns.
    foreign: Vec<usize>,
}

#[pymethods]
impl PatternSet {
    #[new]
    fn new(patterns: Vec<String>) -> Self {
        let all: Vec<&str> = patterns.iter().map(String::as_str).collect();
        if let Some(regex) = compile(&all) {
            // the usual case, and one compile (each costs ~0.3 ms a pattern)
            return PatternSet {
                regex: Some(regex),
                index: (0..patterns.len()).collect(),
                foreign: Vec::new(),
            };
        }
        let (native, foreign): (Vec<usize>, Vec<usize>) =
            (0..patterns.len()).partition(|&i| compile(&[all[i]]).is_some());
        let sources: Vec<&str> = native.iter().map(|&i| all[i]).collect();
        PatternSet {
            regex: (!sources.is_empty()).then(|| compile(&sources)).flatten(),
            index: native,
            foreign,
        }
    }

    /// The indices of the patterns to search with `re`.
    #[getter]
    fn foreign(&self) -> Vec<usize> {
        self.foreign.clone()
    }

    /// The indices of the patterns that hit somewhere in `text`, ascending (the foreign ones
    /// are the caller's to search); None when `text` is not plain ASCII or holds U+001C-U+001F
    /// (or is not even UTF-8: a lone surrogate): all of them are then the caller's.
    fn hits(&self, text: &Bound<'_, PyString>) -> Option<Vec<usize>> {
        let text = text.to_str().ok()?;
        if !text
            .bytes()
            .all(|b| b.is_ascii() && !(0x1c..=0x1f).contains(&b))
        {
            return None;
        }
        Some(self.native_hits(text))
    }
}

impl PatternSet {
    /// The native patterns that hit somewhere in `text`, by their indices in the list given.
    fn native_hits(&self, text: &str) -> Vec<usize> {
        let Some(regex) = &self.regex else {
            return Vec::new();
        };
        let mut found = regex_automata::PatternSet::new(regex.pattern_len());
        regex.which_overlapping_matches(&Input::new(text), &mut found);
        // `index` ascends, so the hits do too
        found.iter().map(|p| self.index[p.as_usize()]).collect()
    }
}

/// One automaton for `sources`, each searched case-insensitively and per line; None when
/// the `regex` crate rejects one or might read it otherwise than `re`.
fn compile(sources: &[&str]) -> Option<Regex> {
    if sources
        .iter()
        .any(|s| class_reads_otherwise(s) || verbose(s))
    {
        return None;
    }
    Regex::builder()
        .syntax(
            syntax::Config::new()
                .case_insensitive(true)
                .multi_line(true),
        )
        .configure(meta::Config::new().match_kind(MatchKind::All))
        .build_many(sources)
        .ok()
}

/// Whether a character class holds what the `regex` crate reads otherwise than `re`: a `[`
/// (a nested class there) or `&&`, `--`, `~~` (set operations there). A `]` first in a class
/// (after its `^`, if any) is a literal to both.
fn class_reads_otherwise(source: &str) -> bool {
    let (mut in_class, mut escaped, mut before) = (false, false, '\0');
    let mut first = false; // at the start of a class, where `]` is a literal
    for c in source.chars() {
        let opening = first;
        first = false;
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '[') if in_class => return true,
            (false, '[') => (in_class, first) = (true, true),
            (false, '^') if opening && before == '[' => first = true,
            (false, ']') if in_class && !opening => in_class = false,
            (false, '&' | '-' | '~') if in_class && before == c => return true,
            _ => {}
        }
        before = if escaped { '\0' } else { c };
    }
    false
}

/// Whether the pattern turns verbose mode on (`(?x)`, `(?ix:...)`).
fn verbose(source: &str) -> bool {
    source.match_indices("(?").any(|(at, _)| {
        source[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .any(|c| c == 'x')
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PatternSet>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(patterns: &[&str], text: &str) -> Vec<usize> {
        PatternSet::new(patterns.iter().map(|p| p.to_string()).collect()).native_hits(text)
    }

    #[test]
    fn every_pattern_that_hits_is_named_case_and_lines_aside() {
        let patterns = [r"^FAILED ", r"\btsc\b", "timed? ?out", r"x(?=y)", "[a&&b]"];
        let set = PatternSet::new(patterns.iter().map(|p| p.to_string()).collect());
        assert_eq!(set.foreign, vec![3, 4]);
        assert_eq!(
            hits(&patterns[..3], "ok\nfailed test\nTSC: Timeout"),
            vec![0, 1, 2]
        );
        assert_eq!(hits(&patterns[..3], "tscx time"), Vec::<usize>::new());
        assert_eq!(hits(&patterns[..3], "TIMEOUT"), vec![2]);
    }

    #[test]
    fn a_class_read_otherwise_is_foreign() {
        for source in [r"[a[]", "[a&&b]", "[a--b]", "[~~]", "[]a[]", "[^][]"] {
            assert!(class_reads_otherwise(source), "{source}");
        }
        for source in [
            r"[a\[] [b]",
            "--force",
            r"[\-\-]",
            "[a-z]&&",
            "[]a] [b]",
            "[^]] x",
        ] {
            assert!(!class_reads_otherwise(source), "{source}");
        }
        assert!(verbose("(?x) a [ ]") && verbose("b(?ix:c)") && !verbose("(?i)x(?:y)"));
    }
}
