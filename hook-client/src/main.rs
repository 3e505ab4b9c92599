//! `agentlog-hook AGENT EVENT [--log-dir DIR] [--config FILE] [--fail-open TEXT] < payload.json`
//!
//! What `agentlog hook` does, without starting Python (see docs/guard.md):
//!
//!   the resident guard (<log_dir>/state/guard-2.sock) takes the call?
//!     yes: print its reply                                     (no interpreter at all)
//!     no:  run the Python hook (`agentlog` beside this binary) with the payload read,
//!          which records the call and starts the guard for the next calls
//!
//! Exactly once, as guard/client.py: a call the guard did not offer to take runs in the
//! Python hook; a call it took and then left unanswered fails open, logged, never run twice.
//! Failing open is exit 0 and no output, or the agent's own fail-open reply when the
//! installed command names one with --fail-open (Cursor blocks a tool without an answer).

mod failure;
mod fallback;
mod guard;
mod wire;

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use fallback::Unserved;
use guard::Unanswered;

/// hook.MAX_PAYLOAD: a larger payload is cut down by the Python hook; the guard takes none.
const MAX_PAYLOAD: u64 = 16 * 1024 * 1024;
const USAGE: &str =
    "usage: agentlog-hook AGENT EVENT [--log-dir DIR] [--config FILE] [--fail-open TEXT] < payload.json\n\
     agentlog's native hook client: the same as `agentlog hook AGENT EVENT ...`, answered by the\n\
     resident guard without starting Python. Always exits 0 (failures: <log_dir>/state/hook-errors.log).\n";

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let [only] = argv.as_slice() {
        if only == "--help" || only == "-h" {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        if only == "--version" {
            println!("agentlog-hook {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
    }
    panic::set_hook(Box::new(|_| {})); // a panic is logged below, not printed to the agent
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| call(&argv)));
    let failure = match outcome {
        Ok(Ok(())) => return ExitCode::SUCCESS,
        Ok(Err(failure)) => failure,
        Err(panicked) => format!(
            "Panic: {}",
            panicked
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panicked.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        ),
    };
    failure::log(guard::log_dir(&argv).as_deref(), &argv, &failure);
    if let Some(reply) = fail_open_reply(&argv) {
        let _ = io::stdout().write_all(reply.as_encoded_bytes());
        let _ = io::stdout().flush();
    }
    ExitCode::SUCCESS
}

/// One hook call; Err: it failed open (the reason, for hook-errors.log).
fn call(argv: &[OsString]) -> Result<(), String> {
    let mut payload = Vec::new();
    let read = io::stdin()
        .lock()
        .take(MAX_PAYLOAD + 1)
        .read_to_end(&mut payload);
    if read.is_err() || payload.len() as u64 > MAX_PAYLOAD {
        let more = read.is_ok(); // the rest of a large payload, streamed to the Python hook
        return fallback::run(argv, payload, more, Unserved::Run).map_err(fallback_failed);
    }
    let Some(path) = guard::socket_path(argv) else {
        return fallback::run(argv, payload, false, Unserved::Run).map_err(fallback_failed);
    };
    match guard::ask(&path, argv, &payload) {
        Ok(reply) => {
            let _ = io::stdout()
                .write_all(&reply.stdout)
                .and_then(|()| io::stdout().flush());
            let _ = io::stderr().write_all(&reply.stderr);
            if reply.code != 0 {
                // its answer is printed already: only said, this call still exits 0
                let exit = format!("GuardExit: the guard answered exit code {}", reply.code);
                failure::log(guard::log_dir(argv).as_deref(), argv, &exit);
            }
            Ok(())
        }
        Err(Unanswered::NotServed { start }) => {
            let unserved = if start {
                Unserved::Start
            } else {
                Unserved::Run
            };
            fallback::run(argv, payload, false, unserved).map_err(fallback_failed)
        }
        Err(Unanswered::NoReply(reason)) => Err(format!(
            "GuardNoReply: the guard took the call and did not answer ({reason})"
        )),
    }
}

fn fallback_failed(reason: String) -> String {
    format!("FallbackFailed: {reason}")
}

/// The text after the last --fail-open (as hook.fail_open reads it).
fn fail_open_reply(argv: &[OsString]) -> Option<OsString> {
    let mut reply = None;
    for (i, arg) in argv.iter().enumerate() {
        if arg == "--fail-open" && i + 1 < argv.len() {
            reply = Some(argv[i + 1].clone());
        } else if let Some(value) = arg.as_encoded_bytes().strip_prefix(b"--fail-open=") {
            reply = Some(OsString::from(String::from_utf8_lossy(value).into_owned()));
        }
    }
    reply
}
