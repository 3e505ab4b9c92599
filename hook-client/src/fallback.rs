//! No guard took the call: run the Python hook, which records it here and (`Start`)
//! starts the guard for the next calls, exactly as `agentlog hook` does on its own.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;

/// Tells the Python client (guard/client.py) that this client asked the guard already,
/// so it runs the call at once instead of asking again (a busy guard would cost 3 s twice).
const UNSERVED: &str = "AGENTLOG_HOOK_UNSERVED";

pub enum Unserved {
    /// No guard listens: run the call, then start one.
    Start,
    /// A guard declined or may not be used: just run the call.
    Run,
}

/// `agentlog` beside this executable (both live in the environment's bin/), else on the PATH.
fn agentlog() -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("agentlog"))
        .filter(|script| script.is_file())
        .unwrap_or_else(|| "agentlog".into())
}

/// Run `agentlog hook ARGV` with `head` (and, with `more`, the rest of this process's
/// stdin) as its payload; its answer is printed, or why it gave none returned.
pub fn run(argv: &[OsString], head: Vec<u8>, more: bool, unserved: Unserved) -> Result<(), String> {
    let program = agentlog();
    let mut child = Command::new(&program)
        .arg("hook")
        .args(argv)
        .env(
            UNSERVED,
            match unserved {
                Unserved::Start => "start",
                Unserved::Run => "run",
            },
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // fed beside reading its output, so neither side waits on a full pipe; never joined:
        // a hook that stops reading early leaves it blocked on our stdin, and exit ends it
        thread::spawn(move || {
            if stdin.write_all(&head).is_ok() && more {
                let _ = io::copy(&mut io::stdin().lock(), &mut stdin);
            }
        });
    }
    let mut output = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_end(&mut output)
            .map_err(|e| format!("reading {}: {e}", program.display()))?;
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {}: {e}", program.display()))?;
    if !status.success() {
        return Err(format!("{} hook ended with {status}", program.display()));
    }
    let _ = io::stdout()
        .write_all(&output)
        .and_then(|()| io::stdout().flush());
    Ok(())
}
