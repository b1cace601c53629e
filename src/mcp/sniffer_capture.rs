//! What the [`Sniffer`] keeps of the values it reads, and how they land in
//! the [`Message`](crate::mcp::jsonrpc::Message): a string's or number's
//! bytes copied into a capped buffer (with `\u` escapes and surrogate pairs
//! decoded) and, when the value ends, stored in the field its slot names; a
//! repeated member first forgets what the earlier one left. The automaton
//! that decides which bytes are a value and which slot it fills is in
//! `sniffer.rs`.

use super::{Sink, Sniffer, St};
use crate::mcp::jsonrpc::{Id, Slot};

impl Sniffer {
    pub(super) fn begin_capture(&mut self, sink: Sink, cap: usize) {
        self.sink = sink;
        self.cap = cap;
        self.in_key = false;
        self.buf.clear();
        self.over = false;
        self.high = None;
    }

    /// A repeated member replaces the earlier one (the last one wins, as in
    /// most parsers), so the old value is forgotten when the new one starts.
    pub(super) fn forget(&mut self, slot: Slot) {
        let m = &mut self.msg;
        match slot {
            Slot::Method => m.method = None,
            Slot::Id => m.id = None,
            Slot::ErrorCode => m.error_code = None,
            Slot::IsError => m.is_error = false,
            Slot::ProtocolVersion => m.protocol_version = None,
            Slot::Name => m.name = None,
            Slot::RequestId => m.request_id = None,
            Slot::ClientName => m.client_name = None,
            Slot::ClientVersion => m.client_version = None,
            // A repeated container replaces everything read from the first.
            Slot::Result => {
                m.is_error = false;
                m.protocol_version = None;
                m.capabilities = Default::default();
                m.listed_tools.clear();
            }
            Slot::ResultTools => m.listed_tools.clear(),
            Slot::Capabilities => m.capabilities = Default::default(),
            Slot::Error => m.error_code = None,
            Slot::Params => {
                m.name = None;
                m.request_id = None;
                m.client_name = None;
                m.client_version = None;
            }
            Slot::ClientInfo => {
                m.client_name = None;
                m.client_version = None;
            }
            _ => {}
        }
    }

    pub(super) fn literal(&mut self, word: &'static [u8], slot: Slot) {
        self.sink = Sink::Value(slot);
        self.st = St::Lit(word, 1);
    }

    pub(super) fn literal_end(&mut self, word: &'static [u8]) {
        if self.sink == Sink::Value(Slot::IsError) {
            self.msg.is_error = word == b"true";
        }
        self.sink = Sink::None;
        self.after_value();
    }

    /// Keeps one decoded byte of the current string or number, if wanted.
    #[inline]
    pub(super) fn keep(&mut self, b: u8) {
        if self.sink == Sink::None {
            return;
        }
        if self.high.take().is_some() {
            // A high surrogate not followed by its low half.
            self.push_char('\u{fffd}');
        }
        if self.buf.len() < self.cap {
            self.buf.push(b);
        } else {
            self.over = true;
        }
    }

    /// Keeps one UTF-16 code unit from a `\u` escape.
    pub(super) fn keep_unit(&mut self, unit: u16) {
        if self.sink == Sink::None {
            return;
        }
        let c = match (self.high.take(), unit) {
            (None, 0xD800..=0xDBFF) => {
                self.high = Some(unit);
                return;
            }
            (Some(h), 0xDC00..=0xDFFF) => {
                let v = 0x10000 + ((u32::from(h) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                char::from_u32(v).unwrap_or('\u{fffd}')
            }
            (Some(_), _) => {
                self.push_char('\u{fffd}');
                return self.keep_unit(unit);
            }
            (None, _) => char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}'),
        };
        self.push_char(c);
    }

    fn push_char(&mut self, c: char) {
        let mut tmp = [0u8; 4];
        let s = c.encode_utf8(&mut tmp);
        if self.buf.len() + s.len() <= self.cap {
            self.buf.extend_from_slice(s.as_bytes());
        } else {
            self.over = true;
        }
    }

    pub(super) fn string_end(&mut self) {
        if self.sink != Sink::None && self.high.take().is_some() {
            self.push_char('\u{fffd}');
        }
        let sink = std::mem::replace(&mut self.sink, Sink::None);
        if std::mem::take(&mut self.in_key) {
            let parent = self.stack.last().map_or(Slot::Other, |f| f.slot);
            self.slot = match sink {
                Sink::Key if !self.over => parent.child(&self.buf),
                _ => Slot::Other,
            };
            self.st = St::Colon;
            return;
        }
        if let Sink::Value(slot) = sink {
            let text = (!self.over).then(|| String::from_utf8_lossy(&self.buf).into_owned());
            let m = &mut self.msg;
            match slot {
                Slot::Method => m.method = text,
                Slot::Id => m.id = text.map(|t| Id::Str(t.into())),
                Slot::RequestId => m.request_id = text.map(|t| Id::Str(t.into())),
                Slot::ProtocolVersion => m.protocol_version = text,
                Slot::Name => m.name = text,
                Slot::ClientName => m.client_name = text,
                Slot::ClientVersion => m.client_version = text,
                Slot::ToolDefName => {
                    if let Some(t) = text
                        && m.listed_tools.len() < crate::mcp::jsonrpc::MAX_LISTED
                    {
                        m.listed_tools.push(t);
                    }
                }
                _ => {}
            }
        }
        self.after_value();
    }

    pub(super) fn number_end(&mut self) {
        if let Sink::Value(slot) = std::mem::replace(&mut self.sink, Sink::None)
            && !self.over
        {
            let text = std::str::from_utf8(&self.buf).unwrap_or("");
            let id = || match text.parse::<i64>() {
                Ok(n) => Id::Int(n),
                Err(_) => Id::Num(text.into()),
            };
            match slot {
                Slot::Id => self.msg.id = Some(id()),
                Slot::RequestId => self.msg.request_id = Some(id()),
                Slot::ErrorCode => {
                    self.msg.error_code = text.parse::<i64>().ok().or_else(|| {
                        let f = text.parse::<f64>().ok()?;
                        (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
                    })
                }
                _ => {}
            }
        }
        self.after_value();
    }
}
