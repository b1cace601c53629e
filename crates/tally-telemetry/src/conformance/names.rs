//! Name cases: the patterns a command path, tool name, app name and version
//! must match, and the MCP client name and major version a host's raw
//! `clientInfo` becomes.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Case;
use crate::schema::{Pattern, normalize};

/// A name case: `command_path`, `tool_name`, `app_name` and `version`
/// (whether the schema's pattern accepts the input), `client_name` (the
/// client a raw `clientInfo.name` counts as) and `major_version` (the
/// major number of a raw version, or null).
#[derive(Serialize, Deserialize)]
pub struct Name {
    kind: String,
    input: String,
    want: Value,
}

impl Case for Name {
    type Want = Value;
    fn name(&self) -> &str {
        &self.input
    }
    fn want(&self) -> &Value {
        &self.want
    }
}

pub fn run_name(c: &Name) -> Result<Value, String> {
    let s = c.input.as_str();
    if let Some(p) = Pattern::from_word(&c.kind) {
        return Ok(json!(p.matches(s)));
    }
    Ok(match c.kind.as_str() {
        "client_name" => json!(normalize::client_name(s)),
        "major_version" => json!(normalize::major_version(s)),
        other => return Err(format!("unknown name kind {other:?}")),
    })
}

pub fn name_cases() -> Vec<Name> {
    let long = |n: usize| "a".repeat(n);
    let inputs: Vec<(&str, Vec<String>)> = vec![
        (
            "command_path",
            [
                "build",
                "config otel get",
                "a b c d",
                "x-1_y",
                "9lives",
                "",
                "a  b",
                "a b c d e",
                "Build",
                "-x",
                "_x",
                " a",
                "a ",
                "a/b",
                "a.b",
                "caf\u{e9}",
                "a\tb",
            ]
            .map(String::from)
            .into_iter()
            .chain([long(32), long(33)])
            .collect(),
        ),
        (
            "tool_name",
            [
                "search",
                "Search.v2-x",
                "_private",
                "get_weather",
                "",
                ".x",
                "-x",
                "a b",
                "a/b",
                "\u{fc}ber",
            ]
            .map(String::from)
            .into_iter()
            .chain([long(64), long(65)])
            .collect(),
        ),
        (
            "app_name",
            [
                "demo",
                "my-tool_2",
                "9",
                "",
                "Demo",
                "-demo",
                "my tool",
                "my.tool",
            ]
            .map(String::from)
            .into_iter()
            .chain([long(40), long(41)])
            .collect(),
        ),
        (
            "version",
            [
                "1.0.0",
                "v2",
                "1.0.0-rc.1+build.5",
                "",
                ".1",
                "1.0 beta",
                "1_0",
            ]
            .map(String::from)
            .into_iter()
            .chain([long(32), long(33)])
            .collect(),
        ),
        (
            "client_name",
            [
                "claude-code",
                "Claude Code",
                "claude_code",
                " cursor ",
                "Claude",
                "claude-desktop-app",
                "Visual Studio Code",
                "code",
                "github-copilot",
                "cursor-vscode",
                "gemini",
                "codex-mcp-client",
                "codex-cli",
                "inspector-client",
                "mcp",
                "mcp-python",
                "typescript-sdk",
                "Zed",
                "my-secret-client",
                "",
                "other",
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            "major_version",
            [
                "1.2.3", "v2.0", "10", " 3.1 ", "9999.1", "10000.0", "", "x1", "1a", "v", "01.2",
            ]
            .map(String::from)
            .to_vec(),
        ),
    ];
    inputs
        .into_iter()
        .flat_map(|(kind, xs)| xs.into_iter().map(move |input| (kind, input)))
        .map(|(kind, input)| {
            let mut c = Name {
                kind: kind.into(),
                input,
                want: Value::Null,
            };
            c.want = run_name(&c).expect("a known kind");
            c
        })
        .collect()
}
