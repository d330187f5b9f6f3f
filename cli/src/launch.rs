//! Starting, watching and stopping emulated nodes.
//!
//! Everything goes through `qemu/run-emulated.sh`, so what operators run is
//! what the tests run. A [`Node`] remembers the QEMU PID the script printed
//! and stops exactly that process (never by name); dropping a `Node` stops it.
//!
//! QEMU daemonizes, so it outlives this process unless stopped. Every launch
//! is therefore also recorded in a process-wide list until its `Node` stops
//! it; [`stop_started_on_signals`] makes SIGINT, SIGTERM and SIGHUP stop
//! every QEMU on that list (by PID) before the process exits, including one
//! whose launch script is still running when the signal arrives.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
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

/// One launch on the process-wide list: its pidfile (QEMU writes it while the
/// script runs) and, once the script has printed it, QEMU's PID.
#[derive(Debug)]
struct Launch {
    pidfile: PathBuf,
    pid: Option<u32>,
}

/// QEMUs started and not yet stopped by their `Node`.
static STARTED: Mutex<Vec<Launch>> = Mutex::new(Vec::new());
/// Set once a signal asked us to stop: no new QEMU starts after that.
static STOPPING: AtomicBool = AtomicBool::new(false);

fn started() -> MutexGuard<'static, Vec<Launch>> {
    // The list stays consistent even if a holder panicked (each change is one push/remove/assign).
    STARTED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether a signal has asked this process to stop its QEMUs.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// Starts QEMU through the script and returns once it is running (not yet
/// booted; see [`Node::wait_for_health`]).
pub fn start(opts: &LaunchOptions) -> Result<Node, String> {
    let pidfile = PathBuf::from(format!("{}.pid", opts.log.display()));
    // A stale pidfile could name an unrelated process by now; the list must only ever hold ours.
    match std::fs::remove_file(&pidfile) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove the stale pidfile {}: {e}", pidfile.display())),
    }
    {
        let mut list = started();
        if stopping() {
            return Err("stopping on a signal: QEMU not started".into());
        }
        list.push(Launch { pidfile: pidfile.clone(), pid: None });
    }
    let result = run_script(opts, &pidfile);
    let mut list = started();
    let entry = list.iter().position(|l| l.pidfile == pidfile && l.pid.is_none());
    match (&result, entry) {
        (Ok(node), Some(i)) => list[i].pid = Some(node.pid),
        (Err(_), Some(i)) => {
            list.remove(i);
        }
        (_, None) => {}
    }
    result
}

fn run_script(opts: &LaunchOptions, pidfile: &Path) -> Result<Node, String> {
    let script = opts.source_root.join("qemu/run-emulated.sh");
    let mut cmd = Command::new(&script);
    cmd.arg("--pidfile").arg(pidfile).arg("--image")
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

/// Whether a process with this PID exists and has not exited (a zombie,
/// exited but not yet reaped by its parent, counts as gone).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name, which is in parentheses and may itself hold ") ".
    stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()).is_some_and(|state| state != 'Z')
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
        stop_pid(self.pid);
        self.stopped = true;
        forget_started(self.pid);
    }

    /// Leaves QEMU running after this process exits (`tdsigner run --detach`):
    /// neither dropping the node nor a later signal stops it.
    pub fn detach(self) -> u32 {
        let pid = self.pid;
        forget_started(pid);
        std::mem::forget(self);
        pid
    }
}

fn forget_started(pid: u32) {
    started().retain(|l| l.pid != Some(pid));
}

fn send_signal(pid: u32, signal: &str) {
    // A QEMU that already exited (failed boot, power-off) needs no signal; kill's own
    // complaint about a vanished process would only be noise in the output.
    let _ = Command::new("kill").arg(signal).arg(pid.to_string()).stderr(std::process::Stdio::null()).status();
}

fn wait_gone(pids: &[u32], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !pids.iter().any(|&p| pid_alive(p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM to every live PID of `pids`, then SIGKILL to those still alive after 5 s.
fn stop_pids(pids: &[u32]) {
    let live: Vec<u32> = pids.iter().copied().filter(|&p| pid_alive(p)).collect();
    for &pid in &live {
        send_signal(pid, "-TERM");
    }
    if !wait_gone(&live, Duration::from_secs(5)) {
        for &pid in live.iter().filter(|&&p| pid_alive(p)) {
            send_signal(pid, "-KILL");
        }
        wait_gone(&live, Duration::from_secs(5));
    }
}

fn stop_pid(pid: u32) {
    stop_pids(&[pid]);
}

/// The PID in a launch's pidfile, if QEMU has written it and the process with
/// that PID is the QEMU that was given this pidfile (its command line names it).
fn pid_from_pidfile(pidfile: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let wanted = pidfile.as_os_str().as_encoded_bytes();
    cmdline.split(|&b| b == 0).any(|arg| arg == wanted).then_some(pid)
}

/// How long a signal waits for launch scripts that are still running to
/// report their QEMU (the script returns as soon as QEMU has daemonized).
const PENDING_LAUNCH_WAIT: Duration = Duration::from_secs(10);

/// Stops every QEMU this process started and has not stopped, and refuses
/// new launches from now on. Launches whose script is still running are
/// waited for (at most [`PENDING_LAUNCH_WAIT`]); a QEMU that already wrote
/// its pidfile is stopped without waiting for the script. Returns the PIDs
/// signalled.
pub fn stop_all_started() -> Vec<u32> {
    stop_all_started_within(PENDING_LAUNCH_WAIT)
}

fn stop_all_started_within(pending_wait: Duration) -> Vec<u32> {
    STOPPING.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + pending_wait;
    let mut pids = Vec::new();
    loop {
        let pending = {
            let mut list = started();
            list.retain(|l| match l.pid.or_else(|| pid_from_pidfile(&l.pidfile)) {
                Some(pid) => {
                    pids.push(pid);
                    false
                }
                None => true,
            });
            list.len()
        };
        if pending == 0 || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop_pids(&pids);
    pids
}

/// Exit status after a signal stopped the QEMUs (128 + SIGINT, as a shell
/// reports an interrupted command; the handler cannot tell the three apart).
pub const SIGNAL_EXIT_CODE: i32 = 130;

/// Installs the process's handler for SIGINT, SIGTERM and SIGHUP: stop every
/// QEMU started through [`start`] ([`stop_all_started`]), say so on stderr
/// prefixed with `tool`, and exit with [`SIGNAL_EXIT_CODE`]. Call once, before
/// the first launch.
pub fn stop_started_on_signals(tool: &'static str) -> Result<(), String> {
    ctrlc::set_handler(move || {
        let pids = stop_all_started();
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        eprintln!(
            "{tool}: SIGINT, SIGTERM or SIGHUP: stopped qemu pid {}",
            if list.is_empty() { "(none running)".to_string() } else { list.join(", ") }
        );
        std::process::exit(SIGNAL_EXIT_CODE);
    })
    .map_err(|e| format!("cannot install the signal handler: {e}"))
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts `tail -f FILE` detached from this process (its parent shell exits at once, so
    /// it is reparented and never lingers as our zombie); returns its PID. Its command line
    /// names FILE, as QEMU's names its pidfile.
    fn detached_tail(file: &Path) -> u32 {
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"tail -f "$0" >/dev/null 2>&1 & echo $!"#)
            .arg(file)
            .output()
            .expect("sh");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("pid")
    }

    #[test]
    fn a_signal_stops_listed_and_pending_launches_but_never_a_foreign_pid_and_refuses_new_ones() {
        let dir = std::env::temp_dir().join(format!("tdsigner-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let listed_file = dir.join("listed.pid");
        let pending_file = dir.join("pending.pid");
        let foreign_file = dir.join("foreign.pid");
        let other_file = dir.join("other");
        for f in [&listed_file, &pending_file, &foreign_file, &other_file] {
            std::fs::write(f, "").expect("write");
        }
        let listed = detached_tail(&listed_file);
        // Pending: the script has not printed the PID yet, but "QEMU" wrote its pidfile.
        let pending = detached_tail(&pending_file);
        std::fs::write(&pending_file, format!("{pending}\n")).expect("write pidfile");
        // A pidfile naming a process whose command line does not name that pidfile (a
        // stale file, a reused PID): never signalled.
        let foreign = detached_tail(&other_file);
        std::fs::write(&foreign_file, format!("{foreign}\n")).expect("write pidfile");
        assert!(pid_alive(listed) && pid_alive(pending) && pid_alive(foreign));
        {
            let mut list = started();
            list.push(Launch { pidfile: dir.join("unused.pid"), pid: Some(listed) });
            list.push(Launch { pidfile: pending_file.clone(), pid: None });
            list.push(Launch { pidfile: foreign_file.clone(), pid: None });
        }

        let t0 = Instant::now();
        let mut stopped = stop_all_started_within(Duration::from_secs(1));
        stopped.sort_unstable();
        let mut expected = vec![listed, pending];
        expected.sort_unstable();
        assert_eq!(stopped, expected);
        assert!(!pid_alive(listed) && !pid_alive(pending), "listed or pending launch still running");
        assert!(pid_alive(foreign), "a process the list does not own was signalled");
        assert!(t0.elapsed() < Duration::from_secs(8), "took {:?}", t0.elapsed());
        stop_pid(foreign);
        assert!(!pid_alive(foreign));

        let opts = LaunchOptions {
            source_root: dir.clone(),
            image: dir.join("image.efi"),
            disk: dir.join("disk.img"),
            log: dir.join("serial.log"),
            http_port: 1,
            memory: "256M".into(),
            cmdline: None,
            p2p_port: None,
        };
        let refused = start(&opts).expect_err("a launch after the signal");
        assert!(refused.contains("stopping on a signal"), "{refused}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pid_alive_reads_the_process_state() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(u32::MAX));
    }
}
