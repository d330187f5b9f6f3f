//! Starting, watching and stopping emulated nodes.
//!
//! Everything goes through `qemu/run-emulated.sh`, so what operators run is
//! what the tests run. A [`Node`] remembers the QEMU PID the script printed
//! and stops exactly that process (never by name); dropping a `Node` stops it.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::http;

/// How to launch one emulated node.
#[derive(Clone, Debug)]
pub struct LaunchOptions {
    pub source_root: PathBuf,
    pub image: PathBuf,
    pub disk: PathBuf,
    pub log: PathBuf,
    pub http_port: u16,
    pub memory: String,
    /// Kernel command line; None = the script's default (DHCP, HTTP on 8080).
    pub cmdline: Option<String>,
    /// Host port forwarded to the guest's P2P port 9000, if any.
    pub p2p_port: Option<u16>,
}

/// A running QEMU started by us.
#[derive(Debug)]
pub struct Node {
    pub pid: u32,
    pub log: PathBuf,
    pub http: SocketAddr,
    stopped: bool,
}

/// Starts QEMU through the script and returns once it is running (not yet
/// booted; see [`Node::wait_for_health`]).
pub fn start(opts: &LaunchOptions) -> Result<Node, String> {
    let script = opts.source_root.join("qemu/run-emulated.sh");
    let mut cmd = Command::new(&script);
    cmd.arg("--image")
        .arg(&opts.image)
        .arg("--disk")
        .arg(&opts.disk)
        .arg("--log")
        .arg(&opts.log)
        .arg("--http-port")
        .arg(opts.http_port.to_string())
        .arg("--memory")
        .arg(&opts.memory);
    if let Some(c) = &opts.cmdline {
        cmd.arg("--cmdline").arg(c);
    }
    if let Some(p) = opts.p2p_port {
        cmd.arg("--p2p-port").arg(p.to_string());
    }
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}{}",
            script.display(),
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let pid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("qemu pid "))
        .and_then(|p| p.trim().parse::<u32>().ok())
        .ok_or_else(|| format!("the launch script printed no QEMU pid: {stdout}"))?;
    Ok(Node {
        pid,
        log: opts.log.clone(),
        http: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, opts.http_port)),
        stopped: false,
    })
}

/// Whether a process with this PID exists.
pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Node {
    /// QEMU's resident memory in KiB (VmRSS), if it is running.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Whether QEMU is still running.
    pub fn alive(&self) -> bool {
        !self.stopped && pid_alive(self.pid)
    }

    /// The serial log so far.
    pub fn serial(&self) -> String {
        std::fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).replace('\r', "")).unwrap_or_default()
    }

    /// Polls `GET /health` until it answers 200, QEMU exits, or `timeout`.
    pub fn wait_for_health(&self, timeout: Duration) -> Result<http::HttpResponse, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.alive() {
                return Err(format!("QEMU (pid {}) exited before /health answered", self.pid));
            }
            if let Ok(r) = http::get(self.http, "/health", Duration::from_millis(500)) {
                if r.status == 200 {
                    return Ok(r);
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("/health did not answer within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until QEMU exits by itself (e.g. the image powered off).
    pub fn wait_for_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !pid_alive(self.pid) {
                self.stopped = true;
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops QEMU: SIGTERM, then SIGKILL after 5 s.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        // A QEMU that already exited (failed boot, power-off) needs no signal; kill's own
        // complaint about a vanished process would only be noise in the output.
        if pid_alive(self.pid) {
            let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).stderr(std::process::Stdio::null()).status();
            if !self.wait_for_exit(Duration::from_secs(5)) {
                let _ = Command::new("kill").arg("-KILL").arg(self.pid.to_string()).stderr(std::process::Stdio::null()).status();
                self.wait_for_exit(Duration::from_secs(5));
            }
        }
        self.stopped = true;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}
