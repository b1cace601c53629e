//! Off is off, proved from the outside: under `strace`, a disabled run of a
//! host with a completed day waiting and an endpoint configured opens no
//! socket, connects nowhere, and creates or changes no file. The same run
//! with telemetry on is the control that shows the check can fail.

use crate::delivery::{D1, D2, host_sandbox};
use crate::receiver::{Mode, Receiver};
use crate::support::{Sandbox, host_bin, text};

/// Runs `host wait-ms 400` under strace and returns the trace.
fn traced(sb: &Sandbox, extra: &[(&str, &str)]) -> String {
    let trace = sb
        .root()
        .join(format!("trace-{}", uuid::Uuid::new_v4().simple()));
    let mut cmd = sb.command(std::path::Path::new("strace"), &[]);
    cmd.args(["-f", "-qq", "-e", "trace=socket,connect,openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat", "-o"])
        .arg(&trace)
        .arg(host_bin())
        .args(["wait-ms", "400"])
        .env("HOST_TELEMETRY_NOW", D2);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("strace is needed for this test (apt-get install strace): {e}"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "waited\n");
    std::fs::read_to_string(&trace).unwrap()
}

/// Trace lines that touch the network or write under the sandbox.
fn violations(trace: &str, root: &str) -> Vec<String> {
    trace
        .lines()
        .filter(|l| {
            let net = l.contains("connect(") || (l.contains("socket(") && !l.contains("AF_UNIX"));
            let writes = l.contains(root)
                && (l.contains("O_CREAT")
                    || l.contains("O_WRONLY")
                    || l.contains("O_RDWR")
                    || l.contains("mkdir")
                    || l.contains("rename")
                    || l.contains("unlink"));
            net || writes
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn do_not_track_opens_no_socket_and_writes_no_file() {
    let rx = Receiver::start(Mode::Accept);
    let sb = host_sandbox(&rx.url());
    // A completed day is waiting: a run with telemetry on would send it.
    let out = sb
        .command(&host_bin(), &["build"])
        .env("HOST_TELEMETRY_NOW", D1)
        .output()
        .unwrap();
    assert!(out.status.success());
    let spool = sb.root().join("state/host/spool.jsonl");
    let before = std::fs::read(&spool).unwrap();
    let root = sb.root().display().to_string();

    for off in [&[("DO_NOT_TRACK", "1")][..], &[("HOST_TELEMETRY", "0")][..]] {
        let trace = traced(&sb, off);
        assert!(
            trace.contains("execve") || !trace.is_empty(),
            "strace recorded the run"
        );
        let bad = violations(&trace, &root);
        assert!(
            bad.is_empty(),
            "telemetry off ({off:?}) still did:\n{}",
            bad.join("\n")
        );
        assert_eq!(
            std::fs::read(&spool).unwrap(),
            before,
            "the spool is untouched"
        );
    }
    assert_eq!(rx.connections(), 0);

    // The control: on, the same run connects and writes.
    let trace = traced(&sb, &[]);
    let bad = violations(&trace, &root);
    assert!(
        bad.iter().any(|l| l.contains("connect(")),
        "control run did not connect:\n{trace}"
    );
    assert!(
        bad.iter().any(|l| l.contains("spool")),
        "control run did not write the spool:\n{trace}"
    );
}

/// `HTTPS_PROXY=garbage` was taken as a proxy host and looked up in DNS,
/// and status blamed the endpoint. Now the run with a completed day waiting
/// opens no socket (strace), and `status` and `flush` name the proxy
/// setting.
#[test]
fn a_proxy_variable_that_is_not_a_url_causes_no_network_activity() {
    let rx = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    let out = sb
        .command(&host_bin(), &["build"])
        .env("HOST_TELEMETRY_NOW", D1)
        .output()
        .unwrap();
    assert!(out.status.success());
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        sb.set(var, "garbage");
    }
    let trace = traced(&sb, &[]);
    let net: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("connect(") || (l.contains("socket(") && !l.contains("AF_UNIX")))
        .collect();
    assert!(
        net.is_empty(),
        "a garbage proxy still reached the network:\n{}",
        net.join("\n")
    );
    assert_eq!(rx.connections(), 0);
    let status = sb
        .command(&host_bin(), &["telemetry", "status"])
        .env("HOST_TELEMETRY_NOW", D2)
        .output()
        .unwrap();
    let status = text(&status.stdout);
    assert!(
        status.contains("HTTP_PROXY=\"garbage\" cannot be used (not a URL"),
        "{status}"
    );
    let out = sb
        .command(&host_bin(), &["telemetry", "flush"])
        .env("HOST_TELEMETRY_NOW", D2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("proxy setting"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(rx.connections(), 0);
}
