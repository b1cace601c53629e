//! JSON-RPC messages as MCP tool-call analytics sees them: the few fields
//! of a request, notification or response that say which call it is and how
//! it ended, as [`crate::mcp::sniffer::Sniffer`] extracts them from the stream.
//! Nothing else of a message (arguments, results, error messages) is kept.

/// A JSON-RPC id: the integer or string a response echoes back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Id {
    /// An integer id.
    Int(i64),
    /// A string id.
    Str(Box<str>),
    /// A number that is not an `i64`, by its text.
    Num(Box<str>),
}

/// Which capabilities an `initialize` result declared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `capabilities.tools` is present.
    pub tools: bool,
    /// `capabilities.resources` is present.
    pub resources: bool,
    /// `capabilities.prompts` is present.
    pub prompts: bool,
}

/// What the sniffer kept of one JSON-RPC message: only the fields tool-call
/// analytics needs, whatever the message's method. Strings longer than the
/// sniffer's caps are left out (`None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Whether the message has a `method` member.
    pub has_method: bool,
    /// `method`, when it is a string of at most 64 bytes.
    pub method: Option<String>,
    /// `id`, when it is an integer, a number or a string of at most 256 bytes.
    pub id: Option<Id>,
    /// Whether the message has a `result` member.
    pub has_result: bool,
    /// Whether the message has an `error` member.
    pub has_error: bool,
    /// `error.code`, when it is an integer.
    pub error_code: Option<i64>,
    /// `result.isError` is `true`.
    pub is_error: bool,
    /// `result.protocolVersion`.
    pub protocol_version: Option<String>,
    /// `result.capabilities`.
    pub capabilities: Capabilities,
    /// `params.name`.
    pub name: Option<String>,
    /// `params.requestId` (of `notifications/cancelled`).
    pub request_id: Option<Id>,
    /// `params.clientInfo.name`.
    pub client_name: Option<String>,
    /// `params.clientInfo.version`.
    pub client_version: Option<String>,
    /// `result.tools[].name` (of a `tools/list` result): the names a server
    /// declares, at most [`MAX_LISTED`] of them, each at most 64 bytes.
    pub listed_tools: Vec<String>,
}

/// The most tool names kept from one `tools/list` result.
pub const MAX_LISTED: usize = 1024;

impl Message {
    /// A request: a method and an id.
    pub fn is_request(&self) -> bool {
        self.has_method && self.id.is_some()
    }

    /// A response: a result or an error, and no method.
    pub fn is_response(&self) -> bool {
        !self.has_method && (self.has_result || self.has_error)
    }

    /// Whether `method` is `m`.
    pub fn method_is(&self, m: &str) -> bool {
        self.method.as_deref() == Some(m)
    }
}

// ---------------------------------------------------------------------------
// The paths the sniffer keeps: everything else in a message is skipped.

/// What a value or container stands for in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Other,
    /// The top-level array of a batch.
    Batch,
    /// A message object (top level, or an element of a batch).
    Message,
    Method,
    Id,
    Result,
    Error,
    Params,
    IsError,
    ProtocolVersion,
    Capabilities,
    CapTools,
    CapResources,
    CapPrompts,
    ErrorCode,
    Name,
    RequestId,
    ClientInfo,
    ClientName,
    ClientVersion,
    /// `result.tools` (of `tools/list`).
    ResultTools,
    /// An element of `result.tools`.
    ToolDef,
    /// Its `name`.
    ToolDefName,
}

impl Slot {
    /// The slot of member `key` of an object in this slot.
    pub(crate) fn child(self, key: &[u8]) -> Slot {
        match (self, key) {
            (Slot::Message, b"method") => Slot::Method,
            (Slot::Message, b"id") => Slot::Id,
            (Slot::Message, b"result") => Slot::Result,
            (Slot::Message, b"error") => Slot::Error,
            (Slot::Message, b"params") => Slot::Params,
            (Slot::Result, b"isError") => Slot::IsError,
            (Slot::Result, b"protocolVersion") => Slot::ProtocolVersion,
            (Slot::Result, b"capabilities") => Slot::Capabilities,
            (Slot::Capabilities, b"tools") => Slot::CapTools,
            (Slot::Capabilities, b"resources") => Slot::CapResources,
            (Slot::Capabilities, b"prompts") => Slot::CapPrompts,
            (Slot::Error, b"code") => Slot::ErrorCode,
            (Slot::Params, b"name") => Slot::Name,
            (Slot::Params, b"requestId") => Slot::RequestId,
            (Slot::Params, b"clientInfo") => Slot::ClientInfo,
            (Slot::ClientInfo, b"name") => Slot::ClientName,
            (Slot::ClientInfo, b"version") => Slot::ClientVersion,
            (Slot::Result, b"tools") => Slot::ResultTools,
            (Slot::ToolDef, b"name") => Slot::ToolDefName,
            _ => Slot::Other,
        }
    }

    /// Whether an object in this slot has members worth naming.
    pub(crate) fn keys_matter(self) -> bool {
        matches!(
            self,
            Slot::Message
                | Slot::Result
                | Slot::Error
                | Slot::Params
                | Slot::Capabilities
                | Slot::ClientInfo
                | Slot::ToolDef
        )
    }

    /// The most bytes of a string kept in this slot; 0 means not kept.
    pub(crate) fn string_cap(self) -> usize {
        match self {
            Slot::Method => 64,
            Slot::ProtocolVersion | Slot::ClientVersion | Slot::ToolDefName => 64,
            Slot::Id | Slot::RequestId | Slot::Name | Slot::ClientName => 256,
            _ => 0,
        }
    }

    /// Whether a number in this slot is kept.
    pub(crate) fn keeps_number(self) -> bool {
        matches!(self, Slot::Id | Slot::RequestId | Slot::ErrorCode)
    }
}
