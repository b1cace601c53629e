//! Test certificates, made by `openssl` (Debian's package) for each test:
//! a CA and a server certificate for 127.0.0.1 that it signed. Shared by
//! the library's TLS tests (`tls_tests.rs`, `system_tls/tests.rs`) and the
//! integration tests (the ClickHouse HTTPS test and the README host's
//! https delivery, through `#[path]` in `tests/cli/main.rs`), so it uses
//! std alone.

use std::path::Path;
use std::process::Command;

pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 it signed, both with keys
/// `newkey` names (`openssl req -newkey`), in `dir`.
pub(crate) fn certificates(dir: &Path, newkey: &[&str]) {
    let req = |extra: &[&str]| {
        let mut args = vec!["req", "-nodes", "-newkey"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(extra);
        openssl(dir, &args);
    };
    req(&[
        "-x509",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=tally test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    req(&[
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}
