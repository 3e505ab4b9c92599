//! The resident guard's side of a call: where its socket is, and one round trip to it,
//! exactly as src/agentlog/guard/client.py does them (`socket_path`, `ask`).

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::net::{sockopt, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::wire::{self, Reply};

/// client.SOCKET: named for the protocol (wire::PROTOCOL), so a guard of another is never asked
const SOCKET: &str = "guard-2.sock";
const DEFAULT_LOG_DIR: &str = ".cache/agent-work-logs"; // config.py's default for log_dir
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const ACK_TIMEOUT: Duration = Duration::from_secs(3); // the guard is busy with other calls (one at a time)
const REPLY_TIMEOUT: Duration = Duration::from_secs(600); // the guard keeps [guard] timeout_ms itself
const MAX_SOCKET_PATH: usize = 100; // sun_path holds 104-108 bytes

/// Why the guard did not answer.
#[derive(Debug)]
pub enum Unanswered {
    /// It never took the call: run it elsewhere (`start`: none listens, start one).
    NotServed { start: bool },
    /// It took the call and then sent no reply: fail open, never run it twice.
    NoReply(String),
}

/// The log dir named by the last --log-dir, AGENT_WORK_LOG_DIR or the default, made
/// absolute as os.path.abspath does (lexically: `..` is not resolved through symlinks).
/// The settings files (agentlog.toml, .env) are not read: the guard reads them itself.
pub fn log_dir(argv: &[OsString]) -> Option<PathBuf> {
    let mut dir = env::var_os("AGENT_WORK_LOG_DIR")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| DEFAULT_LOG_DIR.into());
    for (i, arg) in argv.iter().enumerate() {
        if arg == "--log-dir" && i + 1 < argv.len() {
            dir = argv[i + 1].clone();
        } else if let Some(value) = arg.as_bytes().strip_prefix(b"--log-dir=") {
            dir = OsStr::from_bytes(value).into();
        }
    }
    abspath(dir.as_bytes())
}

/// Where this call's guard listens; None when no guard may be used.
pub fn socket_path(argv: &[OsString]) -> Option<PathBuf> {
    if env::var_os("AGENTLOG_GUARD_RESIDENT").is_some_and(|v| v == "0") {
        return None;
    }
    let path = log_dir(argv)?.join("state").join(SOCKET);
    (path.as_os_str().len() <= MAX_SOCKET_PATH).then_some(path)
}

fn abspath(path: &[u8]) -> Option<PathBuf> {
    let joined = if path.starts_with(b"/") {
        path.to_vec()
    } else {
        let cwd = env::current_dir().ok()?; // the working directory is gone
        [cwd.as_os_str().as_bytes(), b"/", path].concat()
    };
    Some(PathBuf::from(OsStr::from_bytes(&normpath(&joined))))
}

/// posixpath.normpath: `.`, empty parts and `..` resolved lexically; a leading `//` kept.
fn normpath(path: &[u8]) -> Vec<u8> {
    let slashes = if path.starts_with(b"//") && !path.starts_with(b"///") {
        2
    } else {
        usize::from(path.starts_with(b"/"))
    };
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." if parts.last().is_some_and(|last| *last != b"..") => {
                parts.pop();
            }
            b".." if slashes > 0 => {} // nothing above the root
            _ => parts.push(part),
        }
    }
    let mut normal = b"/".repeat(slashes);
    normal.extend(parts.join(&b'/'));
    if normal.is_empty() {
        normal.push(b'.');
    }
    normal
}

/// One round trip: offered (`A`), confirmed (`G`), answered.
pub fn ask(path: &Path, argv: &[OsString], payload: &[u8]) -> Result<Reply, Unanswered> {
    let not_served = |start: bool| Unanswered::NotServed { start };
    let owner = fs::metadata(path).map_err(|_| not_served(true))?.uid();
    if owner != rustix::process::getuid().as_raw() {
        return Err(not_served(false)); // never send our environment to another user
    }
    let cwd = env::current_dir().map_err(|_| not_served(false))?;
    let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
    let environ: Vec<Vec<u8>> = env::vars_os()
        .map(|(key, value)| [key.as_bytes(), b"=", value.as_bytes()].concat())
        .collect();
    let request = wire::request(cwd.as_os_str().as_bytes(), payload, &argv, &environ);
    let mut stream = connect(path).map_err(|e| {
        // refused or gone: a dead guard's socket; a full backlog: a busy one
        let busy = matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        not_served(!busy)
    })?;
    match offer(&mut stream, &request) {
        Ok(b'A') => {}
        _ => return Err(not_served(false)), // declined, busy or gone: it never runs the call
    }
    // from here the call is the guard's: it runs it only on this byte
    stream.write_all(b"G").map_err(|_| not_served(false))?;
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(|e| Unanswered::NoReply(e.to_string()))?;
    wire::read_reply(&mut stream).map_err(Unanswered::NoReply)
}

/// A connected socket whose connect and writes give up after CONNECT_TIMEOUT (a guard
/// whose backlog is full would keep a blocking connect waiting).
fn connect(path: &Path) -> io::Result<UnixStream> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(CONNECT_TIMEOUT))?;
    rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
    Ok(UnixStream::from(fd))
}

/// Send the call and read the guard's offer byte.
fn offer(stream: &mut UnixStream, request: &[u8]) -> io::Result<u8> {
    stream.write_all(request)?;
    stream.set_read_timeout(Some(ACK_TIMEOUT))?;
    let mut ack = [0u8];
    stream.read_exact(&mut ack)?;
    Ok(ack[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_is_posixpaths() {
        for (path, normal) in [
            ("", "."),
            ("/", "/"),
            ("//", "//"),
            ("///", "/"),
            ("//a/../b", "//b"),
            ("/a/./b//c/", "/a/b/c"),
            ("/a/b/../../..", "/"),
            ("/../a", "/a"),
            ("a/../..", ".."),
            ("../../a/b/..", "../../a"),
            ("./", "."),
        ] {
            assert_eq!(normpath(path.as_bytes()), normal.as_bytes(), "{path}");
        }
    }

    #[test]
    fn the_last_log_dir_flag_wins() {
        let argv: Vec<OsString> = [
            "claude-code",
            "PreToolUse",
            "--log-dir",
            "/x/a",
            "--log-dir=/y/../b/",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(log_dir(&argv), Some(PathBuf::from("/b")));
        let dangling: Vec<OsString> = ["--log-dir=/c", "--log-dir"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(log_dir(&dangling), Some(PathBuf::from("/c")));
    }

    #[test]
    fn a_socket_path_too_long_for_sun_path_is_none() {
        let long = format!("--log-dir=/{}", "d".repeat(MAX_SOCKET_PATH));
        assert_eq!(socket_path(&[OsString::from(long)]), None);
        let fits = socket_path(&[OsString::from("--log-dir=/tmp/logs")]);
        assert!(fits.is_none() || fits == Some(PathBuf::from("/tmp/logs/state/guard-2.sock")));
    }
}
