//! The guard's wire format, shared with src/agentlog/guard/client.py (`pack`, `unpack`):
//! a message is an 8-byte big-endian size, then its items, each a 4-byte big-endian size
//! and its bytes. Bytes, not text: argv, paths and the environment are passed exactly.
//!
//!   request: PROTOCOL, cwd, payload, argc, argv..., KEY=VALUE...
//!   reply:   exit code, stdout, stderr

use std::io::{self, Read};

/// client.PROTOCOL: a guard speaking another version declines the call.
pub const PROTOCOL: &[u8] = b"2";
/// A reply larger than this is not the guard's (hook output is a few KiB).
const MAX_REPLY: u64 = 1 << 30;

pub fn pack(items: &[&[u8]]) -> Vec<u8> {
    let body: usize = items.iter().map(|item| 4 + item.len()).sum();
    let mut message = Vec::with_capacity(8 + body);
    message.extend_from_slice(&(body as u64).to_be_bytes());
    for item in items {
        let size = u32::try_from(item.len()).expect("items are bounded by MAX_PAYLOAD");
        message.extend_from_slice(&size.to_be_bytes());
        message.extend_from_slice(item);
    }
    message
}

pub fn unpack(mut body: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut items = Vec::new();
    while !body.is_empty() {
        let (head, rest) = body
            .split_first_chunk::<4>()
            .ok_or("truncated item header")?;
        let size = u32::from_be_bytes(*head) as usize;
        if size > rest.len() {
            return Err(format!(
                "item of {size} bytes, {} left in the message",
                rest.len()
            ));
        }
        let (item, rest) = rest.split_at(size);
        items.push(item);
        body = rest;
    }
    Ok(items)
}

/// One call for the guard: what hook.run needs to run it exactly as in this process.
pub fn request(cwd: &[u8], payload: &[u8], argv: &[&[u8]], environ: &[Vec<u8>]) -> Vec<u8> {
    let argc = argv.len().to_string();
    let mut items: Vec<&[u8]> = vec![PROTOCOL, cwd, payload, argc.as_bytes()];
    items.extend_from_slice(argv);
    items.extend(environ.iter().map(Vec::as_slice));
    pack(&items)
}

#[derive(Debug, PartialEq)]
pub struct Reply {
    pub code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

pub fn read_reply(reader: &mut impl Read) -> Result<Reply, String> {
    let mut head = [0u8; 8];
    reader
        .read_exact(&mut head)
        .map_err(|e| describe("no reply", &e))?;
    let size = u64::from_be_bytes(head);
    if size > MAX_REPLY {
        return Err(format!("a reply of {size} bytes"));
    }
    let mut body = Vec::new();
    reader
        .take(size)
        .read_to_end(&mut body)
        .map_err(|e| describe("reply cut short", &e))?;
    if (body.len() as u64) < size {
        return Err(format!("reply cut short: {} of {size} bytes", body.len()));
    }
    match unpack(&body)?.as_slice() {
        [code, stdout, stderr] => Ok(Reply {
            code: std::str::from_utf8(code)
                .ok()
                .and_then(|c| c.parse().ok())
                .ok_or("the reply's exit code is not a number")?,
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
        }),
        items => Err(format!("a reply of {} items, not 3", items.len())),
    }
}

fn describe(what: &str, error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!("{what}: timed out"),
        _ => format!("{what}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_back_as_packed() {
        let items: [&[u8]; 4] = [b"2", b"", b"\xff\x00 bytes", &[7u8; 300]];
        let message = pack(&items);
        assert_eq!(
            u64::from_be_bytes(message[..8].try_into().unwrap()) as usize,
            message.len() - 8
        );
        assert_eq!(unpack(&message[8..]).unwrap(), items);
    }

    #[test]
    fn a_truncated_message_is_an_error() {
        let message = pack(&[b"abc", b"defg"]);
        for end in 9..message.len() {
            let cut = &message[8..end];
            assert!(unpack(cut).map(|items| items.len() < 2).unwrap_or(true));
        }
        assert!(unpack(&message[8..message.len() - 1]).is_err());
    }

    #[test]
    fn a_request_lists_argc_then_argv_then_the_environment() {
        let message = request(
            b"/work",
            b"{}",
            &[b"claude-code", b"PreToolUse"],
            &[b"HOME=/root".to_vec()],
        );
        let items = unpack(&message[8..]).unwrap();
        let expected: [&[u8]; 7] = [
            b"2",
            b"/work",
            b"{}",
            b"2",
            b"claude-code",
            b"PreToolUse",
            b"HOME=/root",
        ];
        assert_eq!(items, expected);
    }

    #[test]
    fn a_reply_is_read_whole_or_refused() {
        let message = pack(&[b"0", b"{\"decision\":\"block\"}\n", b"warning\n"]);
        let reply = read_reply(&mut message.as_slice()).unwrap();
        assert_eq!(
            reply,
            Reply {
                code: 0,
                stdout: b"{\"decision\":\"block\"}\n".to_vec(),
                stderr: b"warning\n".to_vec()
            }
        );
        assert!(read_reply(&mut &message[..message.len() - 3]).is_err());
        assert!(read_reply(&mut &b""[..]).is_err());
        assert!(read_reply(&mut pack(&[b"x", b"", b""]).as_slice()).is_err());
        assert!(read_reply(&mut pack(&[b"0", b""]).as_slice()).is_err());
    }
}
