//! One pass over a JSON text that vouches only for what it is sure of: every method answers
//! `None` for anything it cannot take exactly as `serde_json` would (bad syntax, a control
//! byte in a string, a lone surrogate, a float that may not be finite, nesting past
//! `MAX_NESTING`), and the caller then sends the line the careful way (`read::decode`).
//! Values the caller does not read are checked and skipped without building anything;
//! strings are borrowed from the text unless they hold an escape.

use std::borrow::Cow;

/// Levels of objects and arrays taken here (events use 3 or 4; deeper lines go the careful way).
const MAX_NESTING: usize = 16;
/// A float whose integer digits plus exponent stay within this is finite (f64 reaches 1.8e308).
const MAX_MAGNITUDE: i64 = 300;

/// A number as written, and whether it is a float (a fraction or an exponent).
pub struct Number<'a> {
    pub text: &'a str,
    pub float: bool,
}

pub struct Cursor<'a> {
    text: &'a str,
    at: usize,
    depth: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str) -> Cursor<'a> {
        Cursor {
            text,
            at: 0,
            depth: 0,
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    /// JSON's whitespace (not Python's: no vertical tab, no form feed).
    pub fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Nothing but whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.at == self.text.len()
    }

    /// `null` (the caller saw its `n`).
    pub fn null(&mut self) -> Option<()> {
        self.literal("null")
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        (self.text.as_bytes().get(self.at..end)? == word.as_bytes()).then(|| self.at = end)
    }

    /// An object's members: `member` reads (or skips) each value after its key.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Cursor<'a>, &str) -> Option<()>,
    ) -> Option<()> {
        self.nested(b'{', b'}', |c| {
            let key = c.string()?;
            c.ws();
            c.expect(b':')?;
            c.ws();
            member(c, &key)
        })
    }

    fn nested(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Cursor<'a>) -> Option<()>,
    ) -> Option<()> {
        self.expect(open)?;
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return None;
        }
        self.ws();
        if self.peek()? == close {
            self.at += 1;
        } else {
            loop {
                item(self)?;
                self.ws();
                match self.next()? {
                    b',' => self.ws(),
                    b if b == close => break,
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// Any value, checked and passed over; its text.
    pub fn skip(&mut self) -> Option<&'a str> {
        let start = self.at;
        match self.peek()? {
            b'"' => drop(self.string_with(|_| ())?),
            b'{' => self.object(|c, _| c.skip().map(drop))?,
            b'[' => self.nested(b'[', b']', |c| c.skip().map(drop))?,
            b't' => self.literal("true")?,
            b'f' => self.literal("false")?,
            b'n' => self.null()?,
            _ => {
                self.number()?;
            }
        }
        Some(&self.text[start..self.at])
    }

    /// A string, borrowed unless it holds an escape.
    pub fn string(&mut self) -> Option<Cow<'a, str>> {
        let mut owned: Option<String> = None;
        let start = self.at + 1;
        let end = self.string_with(|piece| {
            let buf = owned.get_or_insert_with(String::new);
            match piece {
                Piece::Text(text) => buf.push_str(text),
                Piece::Char(ch) => buf.push(ch),
            }
        })?;
        Some(match owned {
            Some(text) => Cow::Owned(text),
            None => Cow::Borrowed(&self.text[start..end]),
        })
    }

    /// Walks a string, handing `piece` its unescaped pieces once an escape was met (before
    /// that the text is the line's own); the byte offset of its closing quote.
    fn string_with(&mut self, mut piece: impl FnMut(Piece<'a>)) -> Option<usize> {
        self.expect(b'"')?;
        let bytes = self.text.as_bytes();
        let mut run = self.at; // start of the text not yet handed over
        let mut escaped = false;
        loop {
            self.at = special(bytes, self.at);
            match self.next()? {
                b'"' => {
                    if escaped {
                        piece(Piece::Text(&self.text[run..self.at - 1]));
                    }
                    return Some(self.at - 1);
                }
                b'\\' => {
                    piece(Piece::Text(&self.text[run..self.at - 1]));
                    piece(Piece::Char(self.escape()?));
                    escaped = true;
                    run = self.at;
                }
                _ => return None, // a control byte
            }
        }
    }

    /// The character of an escape (after its backslash); none for a lone surrogate.
    fn escape(&mut self) -> Option<char> {
        Some(match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => match self.hex()? {
                high @ 0xd800..=0xdbff => {
                    self.literal("\\u")?;
                    let low = self.hex()?;
                    if !(0xdc00..=0xdfff).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))?
                }
                code => char::from_u32(code)?, // a lone low surrogate is no char
            },
            _ => return None,
        })
    }

    /// The 4 hex digits of a `\u` escape.
    fn hex(&mut self) -> Option<u32> {
        let hex = self.text.get(self.at..self.at + 4)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(hex, 16).ok()
    }

    /// A number in JSON's grammar; none for a float that may not be finite.
    pub fn number(&mut self) -> Option<Number<'a>> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = self.at;
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let magnitude = match &self.text[digits..self.at] {
            "0" => 0,
            int => int.len() as i64,
        };
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.first_digit()?;
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let negative = self.peek() == Some(b'-');
            if matches!(self.peek(), Some(b'-' | b'+')) {
                self.at += 1;
            }
            let from = self.at;
            self.first_digit()?;
            let exponent: i64 = self.text.get(from..self.at)?.parse().ok()?;
            let exponent = if negative { -exponent } else { exponent };
            if self.at - from > 4 || magnitude + exponent > MAX_MAGNITUDE {
                return None;
            }
            float = true;
        }
        if float && magnitude > MAX_MAGNITUDE {
            return None;
        }
        Some(Number {
            text: &self.text[start..self.at],
            float,
        })
    }

    fn first_digit(&mut self) -> Option<()> {
        self.next()?.is_ascii_digit().then(|| self.digits())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }
}

enum Piece<'a> {
    Text(&'a str),
    Char(char),
}

/// The offset of the first `"`, `\` or control byte at or after `at` (the end if none):
/// eight bytes a step, each test a borrow that flags the first byte it holds for.
fn special(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
        let quote = zero(word ^ (ONES * u64::from(b'"')));
        let backslash = zero(word ^ (ONES * u64::from(b'\\')));
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
        let found = quote | backslash | control;
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while bytes
        .get(at)
        .is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20)
    {
        at += 1;
    }
    at
}
