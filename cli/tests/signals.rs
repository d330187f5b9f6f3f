//! `tdsigner run --emulated` stops the QEMU it started when it gets SIGTERM,
//! SIGHUP or SIGINT, both while the node boots and once it is up and
//! followed. QEMU daemonizes, so without the handler it would keep running
//! after `tdsigner` died. Boots the real image under QEMU TCG (an image test:
//! run with --ignored, as tests/run.sh does); every wait is bounded and every
//! process started here is stopped by PID when the test ends, however it ends.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use tdsigner_cli::launch::{pid_alive, SIGNAL_EXIT_CODE};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// The real image, built once per test binary into target/test-image (as the
/// tdsigner-tests image tests do).
fn test_image() -> PathBuf {
    static IMAGE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let opts = tdsigner_image_build::BuildOptions {
                source_dir: repo_root(),
                out_dir: repo_root().join("target/test-image"),
                target_dir: None,
            };
            tdsigner_image_build::build(&opts).unwrap_or_else(|e| panic!("image build failed: {e}")).image
        })
        .clone()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Which stream a line came from.
#[derive(Debug)]
enum Line {
    Out(String),
    Err(String),
}

/// A running `tdsigner run --emulated`. Dropping it kills `tdsigner` and, if
/// it is still running, the QEMU it started (checked to be that QEMU: its
/// command line names this run's serial log).
struct Run {
    child: Child,
    lines: Receiver<Line>,
    stderr: Vec<String>,
    qemu: Option<u32>,
    log: PathBuf,
    scratch: PathBuf,
}

fn forward<R: std::io::Read + Send + 'static>(stream: R, tx: mpsc::Sender<Line>, wrap: fn(String) -> Line) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(wrap(line)).is_err() {
                break;
            }
        }
    });
}

impl Run {
    fn start(name: &str) -> Run {
        let scratch = repo_root().join("target/test-runs").join(format!("signals-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).expect("scratch dir");
        let log = scratch.join("serial.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tdsigner"))
            .args(["run", "--emulated", "--timeout", "180", "--http-port"])
            .arg(free_port().to_string())
            .arg("--image")
            .arg(test_image())
            .arg("--disk")
            .arg(scratch.join("disk.img"))
            .arg("--log")
            .arg(&log)
            .env("TDSIGNER_SOURCE", repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tdsigner");
        let (tx, lines) = mpsc::channel();
        forward(child.stdout.take().expect("stdout"), tx.clone(), Line::Out);
        forward(child.stderr.take().expect("stderr"), tx, Line::Err);
        Run { child, lines, stderr: Vec::new(), qemu: None, log, scratch }
    }

    /// Reads output until a line of `tdsigner` matches `want`, within `timeout`.
    fn wait_for(&mut self, timeout: Duration, want: impl Fn(&Line) -> bool) -> Line {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Line::Err(text) = &line {
                        self.stderr.push(text.clone());
                    }
                    if want(&line) {
                        return line;
                    }
                }
                Err(e) => panic!("no expected line within {timeout:?} ({e}); stderr so far:\n{}", self.stderr.join("\n")),
            }
        }
    }

    /// Waits for "qemu pid N" and remembers N.
    fn wait_for_qemu(&mut self) -> u32 {
        let line = self.wait_for(Duration::from_secs(60), |l| matches!(l, Line::Err(t) if t.starts_with("qemu pid ")));
        let Line::Err(text) = line else { unreachable!() };
        let pid = text["qemu pid ".len()..].split_whitespace().next().and_then(|p| p.parse().ok()).expect("pid");
        self.qemu = Some(pid);
        assert!(pid_alive(pid), "QEMU {pid} not running after launch");
        pid
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(signal).arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Waits for `tdsigner` to exit; returns its exit code and all stderr.
    fn wait_exit(&mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "tdsigner did not exit within {EXIT_TIMEOUT:?} of the signal");
            std::thread::sleep(Duration::from_millis(50));
        };
        // The reader threads end at EOF; collect what is left.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            if let Line::Err(text) = line {
                self.stderr.push(text);
            }
        }
        (status.code(), self.stderr.join("\n"))
    }
}

fn names_file(pid: u32, file: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let needle = file.as_os_str().as_encoded_bytes();
    cmdline.windows(needle.len()).any(|w| w == needle)
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(pid) = self.qemu.filter(|&p| pid_alive(p) && names_file(p, &self.log)) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// Sends `signal` (after the node is up if `when_up`, else while it boots) and
/// checks that `tdsigner` exits with the signal status after stopping its QEMU.
fn signal_stops_qemu(name: &str, signal: &str, when_up: bool) {
    let mut run = Run::start(name);
    let qemu = run.wait_for_qemu();
    if when_up {
        run.wait_for(BOOT_TIMEOUT, |l| matches!(l, Line::Out(t) if t.starts_with("tdsigner is up")));
    }
    assert!(pid_alive(qemu), "QEMU {qemu} exited before the signal");
    run.signal(signal);
    let (code, stderr) = run.wait_exit();
    assert_eq!(code, Some(SIGNAL_EXIT_CODE), "exit status after {signal}; stderr:\n{stderr}");
    assert!(!pid_alive(qemu), "QEMU {qemu} still running after {signal} to tdsigner run");
    assert!(
        stderr.contains(&format!("stopped qemu pid {qemu}")),
        "tdsigner run did not report stopping QEMU {qemu}; stderr:\n{stderr}"
    );
}

#[test]
#[ignore = "builds the image and boots QEMU; run with --ignored (CI does)"]
fn sigterm_to_a_followed_node_stops_its_qemu() {
    signal_stops_qemu("term-up", "-TERM", true);
}

#[test]
#[ignore = "builds the image and boots QEMU; run with --ignored (CI does)"]
fn sighup_while_booting_stops_its_qemu() {
    signal_stops_qemu("hup-boot", "-HUP", false);
}

#[test]
#[ignore = "builds the image and boots QEMU; run with --ignored (CI does)"]
fn sigint_while_booting_stops_its_qemu() {
    signal_stops_qemu("int-boot", "-INT", false);
}
