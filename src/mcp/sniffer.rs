//! A streaming sniffer for newline-delimited JSON-RPC, as MCP's stdio
//! transport frames it: one message (or one batch array) per line.
//!
//! The proxy forwards bytes as it reads them and must never hold a message
//! in memory, yet a tool call's outcome can sit at the very end of a 10 MB
//! line (`result.isError` after the content). So instead of buffering lines
//! and parsing them, [`Sniffer`] runs a small pushdown automaton over each
//! chunk as it passes: it checks the JSON structure, keeps the path to the
//! current value for the few paths it cares about (`method`, `id`,
//! `result.isError`, `error.code`, `params.name`, …), copies only those short
//! values, and skips string contents with `memchr`. Its memory is constant
//! per line whatever the line's size, and a line's messages are reported
//! only when the line ended and was well-formed, so a line the peer would
//! reject as a parse error is never counted.
//!
//! What it does not check: control characters and UTF-8 inside strings, the
//! nesting depth limits some parsers impose, and numbers out of `f64` range.
//! A line that is broken only in those ways is sniffed as if it were fine.

use memchr::memchr3;

use crate::mcp::jsonrpc::{Message, Slot};

// Capturing values and storing them in the message: `sniffer_capture.rs`.
#[path = "sniffer_capture.rs"]
mod capture;

/// Longest key worth comparing ("protocolVersion" has 15 bytes).
const KEY_CAP: usize = 16;
/// Longest number text kept.
const NUMBER_CAP: usize = 40;
/// Deeper nesting is taken as hostile: the line is not sniffed further.
const MAX_DEPTH: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

impl Num {
    fn accepting(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::Exp)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Only whitespace so far on this line.
    LineStart,
    /// A value is expected.
    Value,
    /// After `[`: a value or `]`.
    ValueOrClose,
    /// After `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key.
    Key,
    /// After a key.
    Colon,
    /// After a value inside a container.
    CommaOrClose,
    /// Inside a string.
    Str,
    /// After a backslash in a string.
    Esc,
    /// Inside `\uXXXX`, with the digits still to come.
    Hex(u8),
    /// Inside a number.
    Number(Num),
    /// Inside `true`, `false` or `null`: the literal and the bytes matched.
    Lit(&'static [u8], u8),
    /// The line's value is complete; only whitespace may follow.
    Done,
    /// Not a well-formed message line: skip to its end.
    Skip,
}

/// Where a string's bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sink {
    /// Skipped.
    None,
    /// An object key.
    Key,
    /// A value in this slot.
    Value(Slot),
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    object: bool,
    slot: Slot,
}

/// The streaming sniffer: feed it the bytes of one direction of a
/// conversation, in chunks of any size, and it returns the messages of each
/// line that ended well-formed.
#[derive(Debug)]
pub struct Sniffer {
    st: St,
    stack: Vec<Frame>,
    /// The slot of the value about to start.
    slot: Slot,
    /// The current string is an object key.
    in_key: bool,
    /// Where the current string's or number's bytes go.
    sink: Sink,
    /// The most bytes the current capture keeps.
    cap: usize,
    /// Captured bytes of the current string or number.
    buf: Vec<u8>,
    /// The capture overflowed its cap.
    over: bool,
    /// A high surrogate waiting for its low half (`\uD83D\uDE00`).
    high: Option<u16>,
    hex: u16,
    /// The message being read.
    msg: Message,
    /// Messages of the current line, reported when it ends well-formed.
    line: Vec<Message>,
}

impl Default for Sniffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Sniffer {
    /// A sniffer at the start of a line.
    pub fn new() -> Self {
        Sniffer {
            st: St::LineStart,
            stack: Vec::new(),
            slot: Slot::Other,
            in_key: false,
            sink: Sink::None,
            cap: 0,
            buf: Vec::new(),
            over: false,
            high: None,
            hex: 0,
            msg: Message::default(),
            line: Vec::new(),
        }
    }

    /// Reads `chunk`, appending to `out` the messages of every line that
    /// ended in it well-formed. A line is a message only once its newline
    /// arrived: MCP delimits messages by newlines, and the official SDKs
    /// drop a last line without one, so the sniffer never reports it.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Message>) {
        let mut i = 0;
        while i < chunk.len() {
            // Most bytes of a large message are string contents nobody keeps,
            // or the rest of a line already known to be broken: jump over
            // them to the next byte that matters.
            let jump = match self.st {
                St::Skip => Some(memchr::memchr(b'\n', &chunk[i..])),
                St::Str if self.sink == Sink::None => {
                    Some(memchr3(b'"', b'\\', b'\n', &chunk[i..]))
                }
                _ => None,
            };
            match jump {
                Some(Some(k)) => i += k,
                Some(None) => return,
                None => {}
            }
            let b = chunk[i];
            if b == b'\n' {
                self.end_line(out);
                i += 1;
            } else if self.step(b) {
                i += 1;
            }
        }
    }

    fn end_line(&mut self, out: &mut Vec<Message>) {
        if self.st == St::Done {
            out.append(&mut self.line);
        }
        self.line.clear();
        self.stack.clear();
        self.st = St::LineStart;
        self.slot = Slot::Other;
        self.sink = Sink::None;
        self.in_key = false;
        self.high = None;
        self.msg = Message::default();
    }

    /// One byte (never a newline). Returns whether it was consumed; the byte
    /// that ends a number is looked at again in the state that follows.
    fn step(&mut self, b: u8) -> bool {
        match self.st {
            St::Skip => {}
            St::LineStart => match b {
                b' ' | b'\t' | b'\r' => {}
                b'{' => {
                    self.msg = Message::default();
                    self.push(true, Slot::Message);
                }
                b'[' => self.push(false, Slot::Batch),
                // A top-level scalar or garbage is no message.
                _ => self.st = St::Skip,
            },
            St::Done => {
                if !is_ws(b) {
                    self.st = St::Skip;
                }
            }
            St::Value => {
                if !is_ws(b) {
                    self.value_start(b);
                }
            }
            St::ValueOrClose => match b {
                _ if is_ws(b) => {}
                b']' => self.close(),
                _ => self.value_start(b),
            },
            St::KeyOrClose => match b {
                _ if is_ws(b) => {}
                b'}' => self.close(),
                b'"' => self.key_start(),
                _ => self.st = St::Skip,
            },
            St::Key => match b {
                _ if is_ws(b) => {}
                b'"' => self.key_start(),
                _ => self.st = St::Skip,
            },
            St::Colon => match b {
                _ if is_ws(b) => {}
                b':' => self.st = St::Value,
                _ => self.st = St::Skip,
            },
            St::CommaOrClose => {
                let object = self.stack.last().is_some_and(|f| f.object);
                match b {
                    _ if is_ws(b) => {}
                    b',' if object => self.st = St::Key,
                    b',' => {
                        self.slot = self.element_slot();
                        self.st = St::Value;
                    }
                    b'}' if object => self.close(),
                    b']' if !object => self.close(),
                    _ => self.st = St::Skip,
                }
            }
            St::Str => match b {
                b'"' => self.string_end(),
                b'\\' => self.st = St::Esc,
                _ => self.keep(b),
            },
            St::Esc => {
                let decoded = match b {
                    b'"' | b'\\' | b'/' => b,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        self.hex = 0;
                        self.st = St::Hex(4);
                        return true;
                    }
                    _ => {
                        self.st = St::Skip;
                        return true;
                    }
                };
                self.st = St::Str;
                self.keep(decoded);
            }
            St::Hex(left) => {
                let Some(d) = (b as char).to_digit(16) else {
                    self.st = St::Skip;
                    return true;
                };
                self.hex = (self.hex << 4) | d as u16;
                if left > 1 {
                    self.st = St::Hex(left - 1);
                } else {
                    self.st = St::Str;
                    self.keep_unit(self.hex);
                }
            }
            St::Number(n) => {
                let next = match (n, b) {
                    (Num::Minus, b'0') => Some(Num::Zero),
                    (Num::Minus, b'1'..=b'9') => Some(Num::Int),
                    (Num::Int, b'0'..=b'9') => Some(Num::Int),
                    (Num::Zero | Num::Int, b'.') => Some(Num::Dot),
                    (Num::Dot | Num::Frac, b'0'..=b'9') => Some(Num::Frac),
                    (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Some(Num::E),
                    (Num::E, b'+' | b'-') => Some(Num::ESign),
                    (Num::E | Num::ESign | Num::Exp, b'0'..=b'9') => Some(Num::Exp),
                    _ => None,
                };
                match next {
                    Some(n) => {
                        self.st = St::Number(n);
                        self.keep(b);
                    }
                    None if n.accepting() => {
                        self.number_end();
                        return false;
                    }
                    None => self.st = St::Skip,
                }
            }
            St::Lit(word, pos) => {
                if word[pos as usize] != b {
                    self.st = St::Skip;
                } else if pos as usize + 1 == word.len() {
                    self.literal_end(word);
                } else {
                    self.st = St::Lit(word, pos + 1);
                }
            }
        }
        true
    }

    fn push(&mut self, object: bool, slot: Slot) {
        if self.stack.len() >= MAX_DEPTH {
            self.st = St::Skip;
            return;
        }
        self.stack.push(Frame { object, slot });
        if object {
            self.st = St::KeyOrClose;
        } else {
            self.slot = self.element_slot();
            self.st = St::ValueOrClose;
        }
    }

    /// The slot of an element of the innermost array.
    fn element_slot(&self) -> Slot {
        match self.stack.last() {
            Some(Frame {
                object: false,
                slot: Slot::Batch,
            }) => Slot::Message,
            Some(Frame {
                object: false,
                slot: Slot::ResultTools,
            }) => Slot::ToolDef,
            _ => Slot::Other,
        }
    }

    fn close(&mut self) {
        if let Some(frame) = self.stack.pop()
            && frame.slot == Slot::Message
        {
            self.line.push(std::mem::take(&mut self.msg));
        }
        self.after_value();
    }

    fn after_value(&mut self) {
        self.st = if self.stack.is_empty() {
            St::Done
        } else {
            St::CommaOrClose
        };
    }

    fn key_start(&mut self) {
        let matters = self.stack.last().is_some_and(|f| f.slot.keys_matter());
        let sink = if matters { Sink::Key } else { Sink::None };
        self.begin_capture(sink, KEY_CAP);
        self.in_key = true;
        self.st = St::Str;
    }

    fn value_start(&mut self, b: u8) {
        let slot = std::mem::replace(&mut self.slot, Slot::Other);
        self.forget(slot);
        // Presence is what counts for these, whatever the value.
        let present = b != b'n';
        match slot {
            Slot::Result => self.msg.has_result = true,
            Slot::Error => self.msg.has_error = true,
            Slot::Method => self.msg.has_method = true,
            Slot::CapTools => self.msg.capabilities.tools = present,
            Slot::CapResources => self.msg.capabilities.resources = present,
            Slot::CapPrompts => self.msg.capabilities.prompts = present,
            _ => {}
        }
        match b {
            b'{' => {
                let s = if slot.keys_matter() {
                    slot
                } else {
                    Slot::Other
                };
                if slot == Slot::Message {
                    self.msg = Message::default();
                }
                self.push(true, s);
            }
            b'[' if slot == Slot::ResultTools => self.push(false, Slot::ResultTools),
            b'[' => self.push(false, Slot::Other),
            b'"' => {
                let cap = slot.string_cap();
                let sink = if cap > 0 {
                    Sink::Value(slot)
                } else {
                    Sink::None
                };
                self.begin_capture(sink, cap);
                self.st = St::Str;
            }
            b'-' | b'0'..=b'9' => {
                let sink = if slot.keeps_number() {
                    Sink::Value(slot)
                } else {
                    Sink::None
                };
                self.begin_capture(sink, NUMBER_CAP);
                self.keep(b);
                self.st = St::Number(match b {
                    b'-' => Num::Minus,
                    b'0' => Num::Zero,
                    _ => Num::Int,
                });
            }
            b't' => self.literal(b"true", slot),
            b'f' => self.literal(b"false", slot),
            b'n' => self.literal(b"null", slot),
            _ => self.st = St::Skip,
        }
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

#[cfg(test)]
#[path = "sniffer_tests.rs"]
mod tests;
