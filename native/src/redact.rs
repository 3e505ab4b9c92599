//! The fast path of secret redaction: which patterns might match an encoded line.
//!
//! Almost every line is clean, so `agentlog.redact` asks this scanner first and runs its
//! exact patterns (Python `re`, with lookarounds, atomic groups and backreferences) only
//! for the patterns named here. The scanner must never miss: it may name a pattern that
//! does not match, never skip one that does.
//!
//! Two stages, both portable (the same speed on x86 and ARM):
//! * an Aho-Corasick automaton over the built-in patterns' anchors (every match of a
//!   built-in starts with one of its anchors, case-insensitively) finds, in one pass over
//!   the line, each place where a match could start;
//! * there only, an *anchored* lazy DFA runs a lookaround-free superset of the pattern
//!   (lookarounds dropped, atomic groups and possessive quantifiers made plain), which
//!   rejects the common near misses ("input_tokens", "auth" in an id) within a few bytes.
//!
//! A pattern without anchors (a configured one) is searched for by its superset on every
//! line; one the `regex` syntax cannot take even as a superset (a backreference) is
//! always named.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use regex_automata::{meta, util::syntax, Anchored, Input};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// How one pattern is confirmed.
enum Check {
    /// By its superset regex: anchored at its anchors' places, or searched when it has none.
    Superset(meta::Regex),
    /// No superset could be built: named wherever its anchors occur (or on every line).
    Always,
}

/// A pattern's superset regex, compiled on first use: most never meet their anchors, and
/// compiling all of them would cost a short-lived process (an agent hook) ~15 ms.
struct Lazy {
    source: String,
    check: OnceLock<Check>,
}

impl Lazy {
    fn get(&self) -> &Check {
        self.check
            .get_or_init(|| match compile(&superset(&self.source)) {
                Some(rx) => Check::Superset(rx),
                None => Check::Always,
            })
    }

    /// Whether the pattern may match `input` (anchored or searched, as `input` says).
    fn may_match(&self, input: Input<'_>) -> bool {
        match self.get() {
            Check::Superset(rx) => rx.is_match(input),
            Check::Always => true,
        }
    }
}

/// Names the patterns that might match a line (indices into the rules given to `new`).
#[pyclass(frozen, module = "agentlog._core")]
pub struct SecretScan {
    /// The anchors, lowercase (empty: no pattern has any).
    anchors: Vec<String>,
    /// Their automaton: a contiguous NFA at first (built in ~0.1 ms), then a DFA (built in
    /// ~10 ms, scanning ~1.5-5x faster) once this process has scanned enough bytes to pay
    /// for it: an agent hook writing two lines never builds it, a recorder or a huge tool
    /// output does.
    nfa: Option<AhoCorasick>,
    dfa: OnceLock<AhoCorasick>,
    /// Bytes scanned with the NFA so far.
    scanned: AtomicUsize,
    /// For each anchor of the automaton, the patterns whose matches may start there.
    owners: Vec<Vec<usize>>,
    checks: Vec<Lazy>,
    /// Patterns without anchors: searched on every line.
    unanchored: Vec<usize>,
}

#[pymethods]
impl SecretScan {
    /// `rules`: per pattern, its source (Python `re` syntax, bytes semantics) and the
    /// lowercase literals every match starts with (empty: none known).
    #[new]
    fn new(rules: Vec<(String, Vec<String>)>) -> PyResult<Self> {
        SecretScan::build(&rules).map_err(PyValueError::new_err)
    }

    /// Sorted indices of the patterns that might match `line`, or None when it is clean.
    fn scan(&self, line: &[u8]) -> Option<Vec<usize>> {
        let found = self.candidates(line);
        (!found.is_empty()).then_some(found)
    }

    /// Whether pattern `i` has a superset regex (else it is named wherever it may start).
    fn has_superset(&self, i: usize) -> bool {
        matches!(self.checks.get(i).map(Lazy::get), Some(Check::Superset(_)))
    }
}

impl SecretScan {
    fn build(rules: &[(String, Vec<String>)]) -> Result<Self, String> {
        let mut anchors: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        let mut unanchored = Vec::new();
        let mut checks = Vec::with_capacity(rules.len());
        for (i, (source, literals)) in rules.iter().enumerate() {
            checks.push(Lazy {
                source: source.clone(),
                check: OnceLock::new(),
            });
            if literals.is_empty() {
                unanchored.push(i);
            }
            for lit in literals {
                let lit = lit.to_ascii_lowercase();
                match anchors.iter().position(|a| *a == lit) {
                    Some(k) => owners[k].push(i),
                    None => {
                        anchors.push(lit);
                        owners.push(vec![i]);
                    }
                }
            }
        }
        let nfa = if anchors.is_empty() {
            None
        } else {
            Some(automaton(&anchors, AhoCorasickKind::ContiguousNFA)?)
        };
        Ok(SecretScan {
            anchors,
            nfa,
            dfa: OnceLock::new(),
            scanned: AtomicUsize::new(0),
            owners,
            checks,
            unanchored,
        })
    }

    pub(crate) fn candidates(&self, line: &[u8]) -> Vec<usize> {
        let mut named = vec![false; self.checks.len()];
        if let Some(ac) = self.automaton(line.len()) {
            // Overlapping: one pass reports every anchor, even one inside another.
            for m in ac.find_overlapping_iter(line) {
                for &i in &self.owners[m.pattern().as_usize()] {
                    named[i] = named[i]
                        || self.checks[i]
                            .may_match(Input::new(line).range(m.start()..).anchored(Anchored::Yes));
                }
            }
        }
        for &i in &self.unanchored {
            named[i] = self.checks[i].may_match(Input::new(line));
        }
        (0..named.len()).filter(|&i| named[i]).collect()
    }

    /// The automaton to scan `len` more bytes with.
    fn automaton(&self, len: usize) -> Option<&AhoCorasick> {
        if let Some(dfa) = self.dfa.get() {
            return Some(dfa);
        }
        let nfa = self.nfa.as_ref()?;
        if self.scanned.fetch_add(len, Ordering::Relaxed) + len < DFA_AFTER {
            return Some(nfa);
        }
        // The same anchors built before: building them again cannot fail.
        Some(self.dfa.get_or_init(|| {
            automaton(&self.anchors, AhoCorasickKind::DFA).expect("anchors built once already")
        }))
    }
}

/// Bytes scanned with the NFA before the DFA is built (~10 ms, at ~2 ns saved per byte).
const DFA_AFTER: usize = 4 << 20;

fn automaton(anchors: &[String], kind: AhoCorasickKind) -> Result<AhoCorasick, String> {
    AhoCorasickBuilder::new()
        .kind(Some(kind))
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(anchors)
        .map_err(|e| format!("secret pattern anchors: {e}"))
}

/// A superset regex with Python's bytes semantics (ASCII classes, any byte for `[^x]`),
/// or None when the `regex` syntax rejects it.
fn compile(source: &str) -> Option<meta::Regex> {
    meta::Builder::new()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .configure(meta::Config::new().utf8_empty(false))
        .build(source)
        .ok()
}

/// A pattern that matches wherever `source` does, in the `regex` crate's syntax: the
/// lookarounds are dropped (each only narrows a match), atomic groups become plain groups
/// and possessive quantifiers greedy ones (both only forbid backtracking into them).
/// Whatever else the `regex` crate rejects (a backreference) makes compiling fail, and
/// the caller falls back to flagging the pattern.
pub fn superset(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                out.push(c);
                if let Some(&next) = chars.get(i + 1) {
                    out.push(next);
                }
                i += 2;
            }
            '[' => {
                let end = class_end(&chars, i);
                out.extend(&chars[i..end]);
                i = end;
            }
            '(' if starts_lookaround(&chars, i) => {
                i = group_end(&chars, i);
                // A quantified lookaround (`(?=x)?`) quantifies nothing once dropped.
                while i < chars.len() && matches!(chars[i], '?' | '*' | '+') {
                    i += 1;
                }
            }
            '(' if chars.get(i + 1) == Some(&'?') && chars.get(i + 2) == Some(&'>') => {
                out.push_str("(?:");
                i += 3;
            }
            '*' | '+' | '?' | '}' if chars.get(i + 1) == Some(&'+') && is_quantifier(&chars, i) => {
                out.push(c);
                i += 2; // possessive: the extra '+' goes
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn starts_lookaround(chars: &[char], i: usize) -> bool {
    let rest: String = chars[i..chars.len().min(i + 4)].iter().collect();
    rest.starts_with("(?=")
        || rest.starts_with("(?!")
        || rest.starts_with("(?<=")
        || rest.starts_with("(?<!")
}

/// Whether the character at `i` ends a quantifier (and is not, say, a `?` opening a group).
fn is_quantifier(chars: &[char], i: usize) -> bool {
    match chars[i] {
        '?' => i > 0 && chars[i - 1] != '(',
        _ => true,
    }
}

/// The index just past the character class opening at `start`.
fn class_end(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1; // a leading ']' is a literal
    }
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            ']' => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// The index just past the group opening at `start`.
fn group_end(chars: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '[' => {
                i = class_end(chars, i);
                continue;
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(rules: &[(&str, &[&str])], line: &str) -> Vec<usize> {
        let rules: Vec<(String, Vec<String>)> = rules
            .iter()
            .map(|(s, l)| (s.to_string(), l.iter().map(|x| x.to_string()).collect()))
            .collect();
        SecretScan::build(&rules)
            .unwrap()
            .candidates(line.as_bytes())
    }

    #[test]
    fn lookarounds_atomic_groups_and_possessives_give_way() {
        assert_eq!(superset(r"(?<![a-z])ab(?=c)"), "ab");
        assert_eq!(superset(r"(?>(?:x)?)y{3,}+z*+"), "(?:(?:x)?)y{3,}z*");
        assert_eq!(superset(r"a(?![(\[)])b"), "ab");
        assert_eq!(superset(r"[(?=]x\(?!y"), r"[(?=]x\(?!y");
        assert_eq!(superset(r"(?:(?<!a)|(?<=\\[nrt]))b"), r"(?:|)b");
    }

    #[test]
    fn anchors_then_anchored_superset() {
        let rules: &[(&str, &[&str])] = &[
            (
                r"(?i:token)\s*=\s*(?!\[REDACTED)(?P<secret>\w{3,}+)",
                &["token"],
            ),
            (r"sk-[A-Za-z0-9_-]{20,}", &["sk-"]),
            (r"sk-ant-[A-Za-z0-9]{20,}", &["sk-ant-"]),
        ];
        assert!(scan(rules, r#"{"input_tokens":12}"#).is_empty());
        assert_eq!(scan(rules, r#"{"c":"TOKEN = abcdef"}"#), vec![0]);
        // an anchor inside another is seen
        assert_eq!(
            scan(rules, "sk-ant-aaaaaaaaaaaaaaaaaaaaaaaa token=xyz"),
            vec![0, 1, 2]
        );
        assert_eq!(scan(rules, "tokensk-aaaaaaaaaaaaaaaaaaaaaaaa"), vec![1]);
    }

    #[test]
    fn the_dfa_built_later_names_what_the_nfa_named() {
        let rules = vec![
            (
                r"sk-[A-Za-z0-9_-]{20,}".to_string(),
                vec!["sk-".to_string()],
            ),
            (r"(?i:token)=\w+".to_string(), vec!["token".to_string()]),
        ];
        let scan = SecretScan::build(&rules).unwrap();
        let lines = [
            "TOKEN=abc sk-aaaaaaaaaaaaaaaaaaaaaaaa",
            "input_tokens",
            "token=x",
        ];
        let before: Vec<_> = lines
            .iter()
            .map(|l| scan.candidates(l.as_bytes()))
            .collect();
        assert!(scan.dfa.get().is_none());
        scan.candidates(&vec![b'x'; DFA_AFTER]);
        assert!(scan.dfa.get().is_some());
        let after: Vec<_> = lines
            .iter()
            .map(|l| scan.candidates(l.as_bytes()))
            .collect();
        assert_eq!(before, after);
        assert_eq!(after, vec![vec![0, 1], vec![], vec![1]]);
    }

    #[test]
    fn bytes_semantics_as_in_python() {
        // [^x] takes any byte (a UTF-8 sequence too); \s is ASCII only
        let rules: &[(&str, &[&str])] = &[(r"pw=[^\s]{3}", &["pw="])];
        assert_eq!(scan(rules, "pw=\u{e9}x"), vec![0]);
        assert!(scan(rules, "pw=ab cd").is_empty());
    }

    #[test]
    fn backreferences_are_always_named_and_no_anchors_means_searched() {
        let rules: &[(&str, &[&str])] = &[(r"([a-z]{3})\1", &[]), (r"[0-9]{4}", &[])];
        assert_eq!(scan(rules, "nothing"), vec![0]);
        assert_eq!(scan(rules, "year 2026"), vec![0, 1]);
    }
}
