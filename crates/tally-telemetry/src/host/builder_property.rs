//! The builder never builds a batch the server refuses: names, versions
//! and prefixes generated at random (the 33-byte version that once lost a
//! whole day among them) go through `Builder`, and the batch the client
//! would send for them must pass the schema's validator (the one `tally
//! serve` runs on every body) with nothing dropped. The binary's tests post
//! such batches to a real server; here the property runs 300 cases in
//! memory.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::deliver::sender;
use crate::os::clock::format_day;
use crate::os::date::Timestamp;
use crate::os::env::Env;
use crate::os::random::uuid;
use crate::record::recorder::{COMMAND_SLOTS, CallStats, Counters};
use crate::record::rollup;
use crate::schema::validate::validate;

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
fn random_names_and_versions_through_the_builder_make_batches_the_validator_accepts() {
    let home = std::env::temp_dir().join(format!("tally-builder-{}", uuid().simple()));
    let env = Env::from_pairs([
        ("HOME", home.display().to_string()),
        ("XDG_CONFIG_HOME", home.join("config").display().to_string()),
        ("XDG_STATE_HOME", home.join("state").display().to_string()),
    ]);
    let today = Timestamp::now().date();
    let yesterday = format_day(today - 1);
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&identity(), |(name, version, prefix)| {
            let b = crate::Telemetry::builder(&name)
                .version(&version)
                .env_prefix(&prefix)
                .policy_file(home.join("no-policy.toml"))
                .env(env.clone());
            let s = super::telemetry::resolved(&b);
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
            let id = uuid().to_string();
            let body = sender::encode(&sender::build(&s, &id, &uuid().to_string(), &lines));
            let v = validate(&body, today);
            prop_assert!(v.is_ok(), "{name:?} {version:?}: {:?}", v.err());
            prop_assert_eq!(v.unwrap().drops.total(), 0);
            Ok(())
        })
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
}
