//! Consent from the outside: the precedence table through the real binary,
//! `on`/`off`/`reset`, status wording, broken config files, and "no file is
//! created while disabled or undecided".

use crate::support::{Sandbox, text};

/// Every row of the precedence table through the binary, each in its own
/// sandbox: (env pairs, stored choice, flag) → (enabled, decided_by).
#[test]
fn precedence_rows_through_the_binary() {
    struct Row {
        env: &'static [(&'static str, &'static str)],
        stored: Option<&'static str>,
        policy: Option<&'static str>,
        flag: bool,
        want: (bool, &'static str),
    }
    let rows = [
        Row {
            env: &[],
            stored: None,
            policy: None,
            flag: false,
            want: (false, "default"),
        },
        Row {
            env: &[("CI", "true")],
            stored: None,
            policy: None,
            flag: false,
            want: (false, "ci"),
        },
        Row {
            env: &[("CI", "true")],
            stored: Some("on"),
            policy: None,
            flag: false,
            want: (true, "config"),
        },
        Row {
            env: &[],
            stored: Some("off"),
            policy: None,
            flag: false,
            want: (false, "config"),
        },
        Row {
            env: &[("TALLY_TELEMETRY", "1")],
            stored: Some("off"),
            policy: None,
            flag: false,
            want: (true, "env"),
        },
        Row {
            env: &[("TALLY_TELEMETRY", "no")],
            stored: Some("on"),
            policy: None,
            flag: false,
            want: (false, "env"),
        },
        Row {
            env: &[("TALLY_TELEMETRY", "1")],
            stored: Some("on"),
            policy: None,
            flag: true,
            want: (false, "flag"),
        },
        Row {
            env: &[("DO_NOT_TRACK", "1"), ("TALLY_TELEMETRY", "1")],
            stored: Some("on"),
            policy: None,
            flag: false,
            want: (false, "do_not_track"),
        },
        Row {
            env: &[("DO_NOT_TRACK", "0")],
            stored: Some("on"),
            policy: None,
            flag: false,
            want: (true, "config"),
        },
        Row {
            env: &[("TALLY_TELEMETRY", "1")],
            stored: Some("on"),
            policy: Some("telemetry = \"off\"\n"),
            flag: false,
            want: (false, "policy"),
        },
        Row {
            env: &[("TALLY_TELEMETRY", "1")],
            stored: None,
            policy: Some("endpoint = \"http://127.0.0.1:1/v1/batch\"\n"),
            flag: false,
            want: (true, "env"),
        },
    ];
    for (n, r) in rows.iter().enumerate() {
        let mut sb = Sandbox::new();
        if let Some(choice) = r.stored {
            sb.ok(&["telemetry", choice]);
        }
        if let Some(p) = r.policy {
            let path = sb.root().join("policy.toml");
            std::fs::write(&path, p).unwrap();
        }
        for (k, v) in r.env {
            sb.set(k, v);
        }
        let mut args = vec!["telemetry", "status", "--json"];
        if r.flag {
            args.insert(0, "--no-telemetry");
        }
        let v: serde_json::Value = serde_json::from_str(&sb.ok(&args)).unwrap();
        assert_eq!(
            (
                v["enabled"].as_bool().unwrap(),
                v["decided_by"].as_str().unwrap()
            ),
            r.want,
            "row {n}: {}",
            v["reason"]
        );
    }
}

#[test]
fn status_names_the_source_in_words() {
    let mut sb = Sandbox::new();
    let out = sb.ok(&["telemetry", "status"]);
    assert!(
        out.contains("disabled by default: no choice stored yet"),
        "{out}"
    );
    sb.set("DO_NOT_TRACK", "1");
    let out = sb.ok(&["telemetry", "status"]);
    assert!(out.contains("disabled by DO_NOT_TRACK=1"), "{out}");
    sb.unset("DO_NOT_TRACK").set("TALLY_TELEMETRY", "maybe");
    let out = sb.ok(&["telemetry", "status"]);
    assert!(
        out.contains("TALLY_TELEMETRY=\"maybe\" is not understood"),
        "{out}"
    );
}

#[test]
fn status_creates_nothing_while_undecided_or_disabled() {
    let mut sb = Sandbox::new();
    sb.ok(&["telemetry", "status"]);
    sb.ok(&["telemetry", "status", "--json"]);
    sb.ok(&["telemetry", "show"]);
    sb.ok(&["telemetry", "log"]);
    // Undecided, so disabled: flush cannot try, which is exit code 1.
    assert_eq!(sb.tally(&["telemetry", "flush"]).status.code(), Some(1));
    sb.ok(&["config", "otel", "get", "usage-analytics-enabled"]);
    assert!(sb.created().is_empty(), "created {:?}", sb.created());
    // The example host is opt-out: undecided means enabled by default, and
    // still `status` creates nothing.
    let out = sb.host(&["telemetry", "status"]);
    assert!(out.status.success());
    assert!(sb.created().is_empty(), "created {:?}", sb.created());
    // Disabled by DO_NOT_TRACK: even a counted command creates nothing.
    sb.set("DO_NOT_TRACK", "1");
    let out = sb.host(&["build", "x"]);
    assert!(out.status.success());
    assert!(sb.created().is_empty(), "created {:?}", sb.created());
}

#[test]
fn off_deletes_buffered_data_and_id_and_on_mints_a_new_id() {
    let mut sb = Sandbox::new();
    sb.set("TALLY_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/v1/batch");
    sb.ok(&["telemetry", "on"]);
    let first = sb.status()["machine_id"].as_str().unwrap().to_owned();
    // Something buffered: a counted command leaves a spool behind.
    sb.ok(&["config", "otel", "get", "usage-analytics-enabled"]);
    assert!(sb.state_dir().join("spool.jsonl").exists());
    let out = sb.ok(&["telemetry", "off"]);
    assert!(out.contains("Deleted buffered data"), "{out}");
    assert!(!sb.state_dir().join("spool.jsonl").exists());
    assert!(!sb.state_dir().join("machine_id").exists());
    let v = sb.status();
    assert_eq!(v["machine_id"], serde_json::Value::Null);
    assert_eq!(v["decided_by"], "config");
    sb.ok(&["telemetry", "on"]);
    let second = sb.status()["machine_id"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "on after off mints a new id");
    let out = sb.ok(&["telemetry", "reset"]);
    assert!(out.contains("New machine id"), "{out}");
    assert_ne!(sb.status()["machine_id"].as_str().unwrap(), second);
}

#[test]
fn overrides_are_explained_when_storing_a_choice() {
    let mut sb = Sandbox::new();
    sb.set("DO_NOT_TRACK", "1");
    let out = sb.ok(&["telemetry", "on"]);
    assert!(
        out.contains("the choice is stored, but telemetry is disabled"),
        "{out}"
    );
    assert!(out.contains("DO_NOT_TRACK"), "{out}");
    assert!(!sb.state_dir().exists(), "no state while disabled");
}

#[test]
fn broken_config_means_off_and_is_explained() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    std::fs::write(sb.config_file(), "[telemetry\nenabled = true\n").unwrap();
    let v = sb.status();
    assert_eq!(v["enabled"], false);
    assert_eq!(v["config_state"], "broken");
    let out = sb.ok(&["telemetry", "status"]);
    assert!(
        out.contains(&sb.config_file().display().to_string())
            && out.contains("Fix it, or delete it"),
        "{out}"
    );
    // Other commands keep their exit code and stdout.
    let out = sb.host(&["build", "x"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "built\n");
    // Unreadable (a directory where the file should be) counts the same.
    std::fs::remove_file(sb.config_file()).unwrap();
    std::fs::create_dir(sb.config_file()).unwrap();
    assert_eq!(sb.status()["config_state"], "broken");
}

#[test]
fn config_otel_maps_onto_the_stored_choice() {
    let sb = Sandbox::new();
    sb.ok(&["config", "otel", "set", "usage-analytics-enabled", "true"]);
    assert_eq!(
        sb.ok(&["config", "otel", "get", "usage-analytics-enabled"])
            .trim(),
        "true"
    );
    assert_eq!(sb.status()["decided_by"], "config");
    let text_cfg = std::fs::read_to_string(sb.config_file()).unwrap();
    assert!(
        text_cfg.contains("decided_via = \"otel-config\""),
        "{text_cfg}"
    );
    sb.ok(&["config", "otel", "unset", "usage-analytics-enabled"]);
    assert_eq!(sb.status()["decided_by"], "default");
    let bad = sb.tally(&["config", "otel", "get", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("known keys: usage-analytics-enabled"));
    let bad = sb.tally(&["config", "otel", "set", "usage-analytics-enabled", "maybe"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn config_file_is_private_and_keeps_comments() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    std::fs::write(
        sb.config_file(),
        "# my notes\nendpoint = \"http://127.0.0.1:9/v1/batch\"\n",
    )
    .unwrap();
    sb.ok(&["telemetry", "on"]);
    let t = std::fs::read_to_string(sb.config_file()).unwrap();
    assert!(
        t.contains("# my notes") && t.contains("enabled = true"),
        "{t}"
    );
    let mode = std::fs::metadata(sb.config_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let mode = std::fs::metadata(sb.state_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(
        sb.status()["endpoint_source"].as_str().unwrap(),
        format!("config {}", sb.config_file().display())
    );
}

/// The README says `flush` "exits 1 when the send failed or could not be
/// attempted", but it exited 0 with telemetry off and with no endpoint.
#[test]
fn flush_exits_1_when_nothing_could_be_attempted() {
    let mut sb = Sandbox::new();
    let out = sb.tally(&["telemetry", "flush", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "disabled", "{v}");
    sb.set("TALLY_TELEMETRY", "1");
    let out = sb.tally(&["telemetry", "flush"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("no_endpoint: "),
        "{}",
        text(&out.stdout)
    );
    // The reason is said once, on stdout; nothing is added on stderr.
    assert_eq!(text(&out.stderr), "");
}

/// A run of a host whose user stored `telemetry off` decides from the
/// consent file alone, without resolving the rest (`off_by_stored_choice`
/// in the library's `host/init.rs`, a fast command's cheapest path). It
/// must decide as the full resolution does: a run records exactly when
/// `telemetry status`, which resolves everything, says it does, whatever
/// else the environment or an administrator says.
#[test]
fn a_stored_off_decides_a_run_as_status_does() {
    let otlp = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9");
    /// (name, variables for the run, a system policy file, records).
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>, bool);
    let cases: &[Case] = &[
        ("stored off", &[], None, false),
        (
            "off, HOST_TELEMETRY=1",
            &[("HOST_TELEMETRY", "1")],
            None,
            true,
        ),
        (
            "off, HOST_TELEMETRY=yes",
            &[("HOST_TELEMETRY", " yes ")],
            None,
            true,
        ),
        (
            "off, HOST_TELEMETRY empty",
            &[("HOST_TELEMETRY", "")],
            None,
            false,
        ),
        ("off, an OTLP collector", &[otlp], None, true),
        (
            "off, an OTLP metrics endpoint",
            &[(
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://127.0.0.1:9/v1/metrics",
            )],
            None,
            true,
        ),
        (
            "off, OTLP switched off",
            &[otlp, ("OTEL_SDK_DISABLED", "true")],
            None,
            false,
        ),
        (
            "off, debug mode",
            &[("HOST_TELEMETRY_DEBUG", "1")],
            None,
            false,
        ),
        ("off, in CI", &[("CI", "true")], None, false),
        (
            "off, HOST_TELEMETRY=1, a policy forcing off",
            &[("HOST_TELEMETRY", "1")],
            Some("telemetry = \"off\"\n"),
            false,
        ),
        ("stored on", &[], None, true),
        ("on, in CI", &[("CI", "true")], None, true),
        (
            "on, a policy forcing off",
            &[],
            Some("telemetry = \"off\"\n"),
            false,
        ),
    ];
    for (name, env, policy, want) in cases {
        let mut sb = Sandbox::new();
        let choice = if name.starts_with("stored on") || name.starts_with("on,") {
            "on"
        } else {
            "off"
        };
        let out = sb.host(&["telemetry", choice]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        if let Some(p) = policy {
            std::fs::write(sb.root().join("host-policy.toml"), p).unwrap();
        }
        for (k, v) in *env {
            sb.set(k, v);
        }
        let out = sb.host(&["build"]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "built\n", "{name}");
        let recorded = sb.root().join("state/host/spool.jsonl").exists();
        let status = sb.host(&["telemetry", "status", "--json"]);
        assert!(status.status.success(), "{name}: {}", text(&status.stderr));
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let records = status["enabled"] == true || status["otlp"]["enabled"] == true;
        assert_eq!(records, *want, "{name}: status says {status}");
        assert_eq!(recorded, *want, "{name}: the run recorded: {recorded}");
    }
}
