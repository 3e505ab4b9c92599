//! A call that failed open, as hook.log_failure writes it: one JSON line in
//! `<log_dir>/state/hook-errors.log`, or stderr when that cannot be written.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::SystemTime;

const ERRORS_LOG: &str = "hook-errors.log";

pub fn log(log_dir: Option<&Path>, argv: &[OsString], error: &str) {
    let line = record(argv, error, SystemTime::now());
    if let Some(dir) = log_dir {
        if append(&dir.join("state"), &line).is_ok() {
            return;
        }
    }
    let _ = writeln!(io::stderr(), "agentlog hook (failed open): {error}");
}

fn record(argv: &[OsString], error: &str, now: SystemTime) -> String {
    let argv: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let field = |value: serde_json::Value| value.to_string();
    format!(
        "{{\"timestamp\":{},\"argv\":{},\"error\":{},\"where\":{}}}\n",
        field(humantime::format_rfc3339_millis(now).to_string().into()),
        field(argv.into()),
        field(error.into()),
        field("agentlog-hook (the native client)".into()),
    )
}

/// store/modes.py: private (0600 files in 0700 folders) unless AGENT_WORK_FILE_MODE says group.
fn modes() -> (u32, u32) {
    let policy = std::env::var("AGENT_WORK_FILE_MODE").unwrap_or_default();
    if policy.trim().eq_ignore_ascii_case("group") {
        (0o640, 0o750)
    } else {
        (0o600, 0o700)
    }
}

fn append(state: &Path, line: &str) -> io::Result<()> {
    let (file_mode, dir_mode) = modes();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(dir_mode)
        .create(state)?;
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(file_mode)
        .open(state.join(ERRORS_LOG))?
        .write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_line_is_hook_log_failures() {
        let at = UNIX_EPOCH + Duration::from_millis(1_770_647_025_123);
        let line = record(
            &["claude-code".into(), "Pre\"Tool".into()],
            "no reply: timed out",
            at,
        );
        assert_eq!(
            line,
            "{\"timestamp\":\"2026-02-09T14:23:45.123Z\",\"argv\":[\"claude-code\",\"Pre\\\"Tool\"],\
             \"error\":\"no reply: timed out\",\"where\":\"agentlog-hook (the native client)\"}\n"
        );
    }
}
