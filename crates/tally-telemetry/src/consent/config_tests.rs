//! Unit tests of the consent file: edits that keep comments, broken files,
//! links.

use super::*;

fn store(path: &Path, enabled: bool) -> Result<Written, ConfigError> {
    store_choice(
        Some(path),
        "X_TELEMETRY",
        enabled,
        ChoiceVia::Command,
        "2026-01-01T00:00:00Z",
        1,
    )
}

#[test]
fn edits_keep_comments() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(FILE_NAME);
    std::fs::write(&path, "# mine\n# keep me\nenabled = true\n").unwrap();
    store(&path, false).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("# mine") && text.contains("# keep me"),
        "{text}"
    );
    let ConfigState::Loaded(c) = load(Some(&path)) else {
        panic!("not loaded")
    };
    assert_eq!(c.enabled, Some(false));
    assert_eq!(c.decided_via.as_deref(), Some("command"));
    assert_eq!(c.consent_version, Some(1));
}

#[test]
fn a_key_look_alike_inside_a_multi_line_string_is_not_edited() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(FILE_NAME);
    let endpoint = "endpoint = \"\"\"\nenabled = true\n\"\"\"\n";
    std::fs::write(&path, endpoint).unwrap();
    let before = load(Some(&path)).user().unwrap().endpoint.clone();
    assert_eq!(before.as_deref(), Some("enabled = true\n"));
    store(&path, false).unwrap();
    let after = load(Some(&path));
    let c = after.user().expect("still valid");
    assert_eq!(c.enabled, Some(false));
    assert_eq!(c.endpoint, before);
}

#[test]
fn broken_file_is_backed_up_by_an_explicit_choice_and_left_alone_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(FILE_NAME);
    std::fs::write(&path, "enabled = yes").unwrap();
    assert!(matches!(load(Some(&path)), ConfigState::Broken(_)));
    let err = store_notice_version(Some(&path), "X_TELEMETRY", 1).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "enabled = yes");
    let w = store(&path, false).unwrap();
    let backup = w.backup.expect("a backup");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "enabled = yes");
    assert_eq!(load(Some(&path)).user().unwrap().enabled, Some(false));
}

#[test]
fn wrong_types_and_an_old_style_table_are_broken() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(FILE_NAME);
    std::fs::write(&path, "enabled = \"sure\"\n").unwrap();
    assert!(matches!(load(Some(&path)), ConfigState::Broken(_)));
    // Fail closed: a `[telemetry]` table pasted here must not be ignored.
    std::fs::write(&path, "[telemetry]\nenabled = false\n").unwrap();
    assert!(matches!(load(Some(&path)), ConfigState::Broken(_)));
}

#[test]
fn symlinked_consent_file_of_the_user_is_followed_and_kept_a_link() {
    let tmp = tempfile::tempdir().unwrap();
    let dotfiles = tmp.path().join("dotfiles");
    std::fs::create_dir(&dotfiles).unwrap();
    let target = dotfiles.join("telemetry.toml");
    std::fs::write(&target, "enabled = true\n").unwrap();
    let dir = tmp.path().join("config");
    std::fs::create_dir(&dir).unwrap();
    let link = dir.join(FILE_NAME);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(load(Some(&link)).user().unwrap().enabled, Some(true));
    store(&link, false).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&target)
            .unwrap()
            .contains("enabled = false")
    );
    // A dangling link into a directory that exists creates the file there.
    std::fs::remove_file(&target).unwrap();
    store(&link, true).unwrap();
    assert!(target.exists());
    // A link into a directory that does not exist says what to do.
    let missing = tmp.path().join("nowhere/telemetry.toml");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&missing, &link).unwrap();
    let err = store(&link, true).unwrap_err().to_string();
    assert!(
        err.contains("does not exist") && err.contains("remove the link"),
        "{err}"
    );
    assert!(matches!(load(Some(&link)), ConfigState::Broken(_)));
}

#[test]
fn link_loops_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let err = store(&a, true).unwrap_err().to_string();
    assert!(err.contains("symbolic links"), "{err}");
}

// The flat reading of the consent file (`consent::flat`) against the TOML
// parser: where the flat reading answers, both agree.

use proptest::prelude::*;

fn fast(text: &str) -> Option<UserConfig> {
    crate::consent::flat::pairs(text).and_then(|p| from_flat(&p))
}

fn by_toml_parser(text: &str) -> Option<UserConfig> {
    let table = text.parse::<toml::Table>().ok()?;
    UserConfig::from_table(&table).ok()
}

#[test]
fn the_file_tally_writes_is_read_without_the_toml_parser() {
    let text = "# Telemetry consent, written by `telemetry on|off` and the prompt.\n\
                # `telemetry status` shows what decides whether telemetry is on.\n\
                enabled = true\n\
                decided_at = \"2026-12-07T05:04:24Z\"\n\
                decided_via = \"command\"\n\
                consent_version = 2\n";
    let read = fast(text).expect("flat");
    assert_eq!(Some(read.clone()), by_toml_parser(text));
    assert_eq!(read.enabled, Some(true));
    assert_eq!(read.consent_version, Some(2));
}

#[test]
fn other_shapes_are_left_to_the_toml_parser() {
    for text in [
        "[telemetry]\nenabled = true\n",
        "enabled = true\nenabled = false\n",
        "enabled = \"yes\"\n",
        "endpoint = \"a\\u0041\"\n",
        "consent_version = 1_0\n",
        "consent_version = 01\n",
        "consent_version = -1\n",
        "consent_version = 4294967296\n",
        "flush_interval_secs = 1.5\n",
        "colour = true\n",
        "\"enabled\" = true\n",
        "enabled.x = true\n",
        "enabled = true false\n",
        "endpoint = 'literal'\n",
        "endpoint = \"\"\"multi\"\"\"\n",
    ] {
        assert_eq!(fast(text), None, "{text:?}");
    }
}

/// Lines of the flat shape and near misses of it.
fn line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("enabled".to_owned()),
        Just("decided_at".to_owned()),
        Just("decided_via".to_owned()),
        Just("consent_version".to_owned()),
        Just("notice_version".to_owned()),
        Just("endpoint".to_owned()),
        Just("flush_interval_secs".to_owned()),
        "[a-z_\"\\.-]{0,6}",
    ];
    let value = prop_oneof![
        2 => Just("true".to_owned()),
        1 => Just("false".to_owned()),
        2 => "[0-9_+-]{1,12}",
        4 => "\"[ -~\\t\\\\]{0,12}\"",
        1 => "'[a-z]{0,4}'",
        1 => "[ -~]{0,6}",
    ];
    let blank = "[ \\t]{0,2}";
    prop_oneof![
        8 => (blank, key, blank, blank, value, blank, "(# [ -~]{0,6})?").prop_map(
            |(a, k, b, c, v, d, comment)| format!("{a}{k}{b}={c}{v}{d}{comment}")
        ),
        1 => "#[ -~\\t]{0,10}",
        1 => "[ \\t]{0,3}",
        1 => "[ -~]{0,10}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]
    #[test]
    fn the_flat_reading_agrees_with_the_toml_parser(
        lines in proptest::collection::vec(line(), 0..4),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        if let Some(fast) = fast(&text) {
            prop_assert_eq!(Some(fast), by_toml_parser(&text), "{:?}", text);
        }
    }
}
