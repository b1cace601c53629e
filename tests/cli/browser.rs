//! A real browser for the HTML report: headless Chromium driven over its
//! DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on fd 3,
//! replies and events on fd 4, each message JSON ended by a NUL byte), so a
//! test sees every console message, exception, log entry and network
//! request of the page, can ask the DOM questions, and gets a full-page
//! screenshot as PNG. No port, no websocket, nothing listening.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// How long one page may take, from launch to screenshot.
const DEADLINE: Duration = Duration::from_secs(90);

/// What a page did while it loaded and was looked at.
pub struct Visit {
    /// `Runtime.consoleAPICalled`, `Runtime.exceptionThrown` and error
    /// `Log.entryAdded` events, as text.
    pub console: Vec<String>,
    /// URLs of every request other than the page itself.
    pub requests: Vec<String>,
    /// Answers to the `probes` expressions, in order.
    pub answers: Vec<Value>,
    /// The full page as PNG.
    pub png: Vec<u8>,
}

struct Browser {
    child: Child,
    to: std::fs::File,
    from: Receiver<Value>,
    next_id: u64,
    events: Vec<Value>,
    started: Instant,
    _profile: tempfile::TempDir,
}

/// A pipe with both ends moved above the fds a child is given, close-on-exec.
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fresh descriptors into `fds`.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    let high = |fd: i32| {
        // SAFETY: duplicating a descriptor we own to one >= 10, then
        // closing the original; both are ours alone.
        unsafe {
            let h = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
            assert!(h >= 10, "fcntl: {}", std::io::Error::last_os_error());
            libc::close(fd);
            OwnedFd::from_raw_fd(h)
        }
    };
    (high(fds[0]), high(fds[1]))
}

/// The Chromium binary: Debian's `chromium`, installed by scripts/test.sh.
fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return name.to_owned();
        }
    }
    panic!(
        "no chromium found: install it (`apt-get install -y chromium`, as scripts/test.sh does)"
    );
}

impl Browser {
    fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (cmd_read, cmd_write) = pipe();
        let (resp_read, resp_write) = pipe();
        let (cr, rw) = (cmd_read.as_raw_fd(), resp_write.as_raw_fd());
        let mut cmd = Command::new(chromium());
        cmd.args([
            "--headless",
            // Root in CI and containers: the sandbox needs user namespaces.
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--mute-audio",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only dup2, async-signal-safe, between fork and exec;
        // dup2 clears close-on-exec on fds 3 and 4, which are then the
        // only pipe ends the browser inherits.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(cr, 3) < 0 || libc::dup2(rw, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start chromium");
        drop((cmd_read, resp_write));
        let (tx, rx) = channel();
        let mut reader = std::fs::File::from(resp_read);
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 1 << 16];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice(&msg[..end])
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Browser {
            child,
            to: std::fs::File::from(cmd_write),
            from: rx,
            next_id: 1,
            events: Vec::new(),
            started: Instant::now(),
            _profile: profile,
        }
    }

    /// Sends `method` (to `session`, if given) and waits for its result,
    /// keeping every event that arrives meanwhile.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        loop {
            let v = self.recv(method);
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    fn recv(&mut self, waiting_for: &str) -> Value {
        let left = DEADLINE.saturating_sub(self.started.elapsed());
        match self.from.recv_timeout(left) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!("chromium: no answer to {waiting_for}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("chromium exited while waiting for {waiting_for}")
            }
        }
    }

    /// Waits for the event `method` of `session`.
    fn wait_event(&mut self, session: &str, method: &str) {
        if self
            .events
            .iter()
            .any(|e| e["method"] == method && e["sessionId"] == session)
        {
            return;
        }
        loop {
            let v = self.recv(method);
            let hit = v["method"] == method && v["sessionId"] == session;
            self.events.push(v);
            if hit {
                return;
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `page` (a local file) at `width` CSS pixels, evaluates each of
/// `probes` (JavaScript expressions run by DevTools, not by the page) and
/// takes a full-page screenshot.
pub fn visit(page: &Path, width: u32, probes: &[&str]) -> Visit {
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let mut b = Browser::launch();
    let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    let sid = attached["sessionId"].as_str().unwrap().to_owned();
    let s = Some(sid.as_str());
    for domain in ["Page", "Runtime", "Log", "Network"] {
        b.call(s, &format!("{domain}.enable"), json!({}));
    }
    b.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
    let nav = b.call(s, "Page.navigate", json!({"url": url}));
    assert!(nav.get("errorText").is_none(), "navigation failed: {nav}");
    b.wait_event(&sid, "Page.loadEventFired");
    let answers = probes
        .iter()
        .map(|p| {
            let r = b.call(
                s,
                "Runtime.evaluate",
                json!({"expression": p, "returnByValue": true}),
            );
            assert!(r.get("exceptionDetails").is_none(), "{p}: {r}");
            r["result"]["value"].clone()
        })
        .collect();
    let metrics = b.call(s, "Page.getLayoutMetrics", json!({}));
    let size = &metrics["cssContentSize"];
    let shot = b.call(
        s,
        "Page.captureScreenshot",
        json!({
            "format": "png",
            "captureBeyondViewport": true,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        }),
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().expect("screenshot data"))
        .expect("screenshot base64");
    // Anything the page logged or fetched up to now.
    let mut console = Vec::new();
    let mut requests = Vec::new();
    for e in b.events.iter().filter(|e| e["sessionId"] == sid.as_str()) {
        let p = &e["params"];
        match e["method"].as_str().unwrap_or("") {
            "Runtime.consoleAPICalled" => {
                console.push(format!("console.{}: {}", p["type"], p["args"]))
            }
            "Runtime.exceptionThrown" => {
                console.push(format!("exception: {}", p["exceptionDetails"]))
            }
            "Log.entryAdded"
                if p["entry"]["level"] == "error" || p["entry"]["level"] == "warning" =>
            {
                console.push(format!(
                    "log {}: {}",
                    p["entry"]["level"], p["entry"]["text"]
                ));
            }
            "Network.requestWillBeSent" if p["request"]["url"] != url.as_str() => {
                requests.push(p["request"]["url"].as_str().unwrap_or("?").to_owned());
            }
            _ => {}
        }
    }
    let _ = b.call(None, "Browser.close", json!({}));
    Visit {
        console,
        requests,
        answers,
        png,
    }
}

/// A decoded screenshot's size, how many pixels differ from the most
/// common colour (the background) and how many distinct colours it has.
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub not_background: usize,
    pub colours: usize,
}

pub fn pixels(png_bytes: &[u8]) -> Pixels {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let channels = info.color_type.samples();
    let mut counts = std::collections::HashMap::<&[u8], usize>::new();
    for px in buf[..info.buffer_size()].chunks_exact(channels) {
        *counts.entry(px).or_default() += 1;
    }
    let total = (info.width * info.height) as usize;
    let background = counts.values().copied().max().unwrap_or(0);
    Pixels {
        width: info.width,
        height: info.height,
        not_background: total - background,
        colours: counts.len(),
    }
}
