//! The builder never builds a batch the server refuses: names, versions
//! and prefixes generated at random (the 33-byte version that once lost a
//! whole day among them) go through `Builder`, and the batch the client
//! would send for them is posted to a real `tally serve`, which must accept
//! every one with nothing dropped.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use tally::__private::deliver::sender;
use tally::__private::os::env::Env;
use tally::__private::record::recorder::{COMMAND_SLOTS, CallStats, Counters};
use tally::__private::record::rollup;
use tally::__private::schema::validate::validate;

use crate::serve_support::{Conn, Server, day, uuid};
use crate::support::Sandbox;

/// Names and versions: arbitrary text, text that is almost right, and
/// real-looking versions with long pre-release and build parts.
fn identity() -> impl Strategy<Value = (String, String, String)> {
    let name = prop_oneof![
        "\\PC{0,60}",
        "[a-zA-Z0-9 _.-]{0,60}",
        "[a-z][a-z0-9-]{0,45}",
    ];
    let version = prop_oneof![
        "\\PC{0,60}",
        "v?[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}(-[a-z0-9.]{0,40})?(\\+[a-zA-Z0-9.]{0,40})?",
        "[0-9A-Za-z.+ -]{0,70}",
    ];
    let prefix = prop_oneof!["\\PC{0,20}", "[A-Z_]{1,10}"];
    (name, version, prefix)
}

#[test]
fn random_names_and_versions_through_the_builder_make_batches_serve_accepts() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &["--rate-limit", "0", "--source-rate", "0"]);
    let home = sb.root().join("builder-home");
    let env = Env::from_pairs([
        ("HOME", home.display().to_string()),
        ("XDG_CONFIG_HOME", home.join("config").display().to_string()),
        ("XDG_STATE_HOME", home.join("state").display().to_string()),
    ]);
    let yesterday = day(-1);
    let today = tally::__private::os::date::Timestamp::now().date();
    let conn = std::cell::RefCell::new(Conn::open(srv.addr));
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&identity(), |(name, version, prefix)| {
            let b = tally::Telemetry::builder(&name)
                .version(&version)
                .env_prefix(&prefix)
                .policy_file(home.join("no-policy.toml"))
                .env(env.clone());
            let s = tally::__private::host::telemetry::resolved(&b);
            if s.app.version != version {
                // The change is shown in `telemetry status`.
                prop_assert!(
                    s.warnings.iter().any(|w| w.contains("version")),
                    "{:?}",
                    s.warnings
                );
            }
            let mut counters = Counters::default();
            let mut runs = [CallStats::default(); COMMAND_SLOTS];
            runs[0] = CallStats {
                count: 2,
                latency: [2, 0, 0, 0, 0, 0, 0],
            };
            counters.commands.insert("build".into(), runs);
            let lines = rollup::lines_from(&counters, &yesterday);
            let body = sender::encode(&sender::build(&s, &uuid(), &uuid(), &lines));
            let v = validate(&body, today);
            prop_assert!(v.is_ok(), "{name:?} {version:?}: {:?}", v.err());
            prop_assert_eq!(v.unwrap().drops.total(), 0);
            let mut conn = conn.borrow_mut();
            let r = loop {
                match conn.post(&body) {
                    Some(r) => break r,
                    None => *conn = Conn::open(srv.addr),
                }
            };
            if r.header("connection") == Some("close") {
                *conn = Conn::open(srv.addr);
            }
            prop_assert_eq!(r.status, 204, "{:?} {:?}: {:?}", name, version, r);
            Ok(())
        })
        .unwrap();
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
}
