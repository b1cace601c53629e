//! Privacy is tested, not promised: a unique canary planted in arguments,
//! the working directory, the environment and the state path never reaches
//! the spool, the wire (the product endpoint and the OTLP collector),
//! `telemetry show` or the ledger.

use crate::delivery::{D1, D2, host_sandbox};
use crate::receiver::{Mode, Receiver};
use crate::support::{host_bin, tally_bin, text};

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn a_canary_in_args_cwd_env_and_paths_never_leaves_the_process() {
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let rx = Receiver::start(Mode::Accept);
    // The user's own OTLP collector gets the same counts: the canary must
    // stay out of those bodies too.
    let otlp = Receiver::start(Mode::Accept);
    let mut sb = host_sandbox(&rx.url());
    sb.set(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("http://{}", otlp.addr),
    );
    let cwd = sb.root().join(format!("work-{canary}"));
    std::fs::create_dir_all(&cwd).unwrap();
    let state = sb.root().join(format!("state-{canary}"));
    sb.set("HOST_TELEMETRY_DIR", state.display().to_string());
    sb.set("SECRET_TOKEN", &canary);
    sb.set("TALLY_TELEMETRY", "1");
    sb.set("TALLY_TELEMETRY_ENDPOINT", rx.url());
    sb.set(
        "TALLY_TELEMETRY_DIR",
        sb.root()
            .join(format!("tally-{canary}"))
            .display()
            .to_string(),
    );
    let path_arg = format!("/home/{canary}/project");
    let runs: Vec<Vec<&str>> = vec![
        vec!["build", "--target", &canary, &path_arg],
        vec!["serve"],
        vec!["exit-deep", "0"],
    ];
    for args in &runs {
        let out = sb
            .command(&host_bin(), args)
            .current_dir(&cwd)
            .env("HOST_TELEMETRY_NOW", D1)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let out = sb
        .command(
            &tally_bin(),
            &["config", "otel", "get", "usage-analytics-enabled"],
        )
        .current_dir(&cwd)
        .env("TALLY_TELEMETRY_NOW", D1)
        .output()
        .unwrap();
    assert!(out.status.success());

    let mut outputs = Vec::new();
    for (bin, prefix) in [(host_bin(), "HOST"), (tally_bin(), "TALLY")] {
        let show = sb
            .command(&bin, &["telemetry", "show", "--json"])
            .current_dir(&cwd)
            .env(format!("{prefix}_TELEMETRY_NOW"), D2)
            .output()
            .unwrap();
        outputs.push(text(&show.stdout));
        let flush = sb
            .command(&bin, &["telemetry", "flush"])
            .current_dir(&cwd)
            .env(format!("{prefix}_TELEMETRY_NOW"), D2)
            .output()
            .unwrap();
        assert!(
            text(&flush.stdout).starts_with("sent"),
            "{}",
            text(&flush.stdout)
        );
    }
    // The shows really contained the data (so the check below means something).
    assert!(
        outputs[0].contains("\"build\"") && outputs[0].contains("claude-code"),
        "{}",
        outputs[0]
    );
    assert!(outputs[1].contains("config otel get"), "{}", outputs[1]);
    let bodies = rx.raw_bodies();
    assert_eq!(bodies.len(), 2);
    for b in &bodies {
        assert!(
            !text(b).contains(&canary),
            "the wire carried the canary: {}",
            text(b)
        );
    }
    let otlp_bodies = otlp.raw_bodies();
    if cfg!(feature = "otlp") {
        assert_eq!(
            otlp_bodies.len(),
            2,
            "one OTLP export each from host and tally"
        );
        assert!(
            text(&otlp_bodies.concat()).contains("config otel get"),
            "the OTLP bodies carried the data"
        );
    }
    for b in &otlp_bodies {
        assert!(
            !text(b).contains(&canary),
            "an OTLP body carried the canary: {}",
            text(b)
        );
    }
    for o in &outputs {
        assert!(!o.contains(&canary), "show printed the canary: {o}");
    }
    // Every file tally wrote, including the ledger and any spool left.
    let mut files = Vec::new();
    files_under(&state, &mut files);
    files_under(&sb.root().join(format!("tally-{canary}")), &mut files);
    files_under(&sb.root().join("config"), &mut files);
    assert!(files.iter().any(|f| f.ends_with("sent.jsonl")));
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !text(&bytes).contains(&canary),
            "{} holds the canary",
            f.display()
        );
    }
}
