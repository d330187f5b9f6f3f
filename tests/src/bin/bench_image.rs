//! Image figures: size, clean build time, QEMU start → /health under TCG (and
//! how much of it is firmware), and the smallest `-m` that boots and serves.
//!
//! Usage: cargo run --release -p tdsigner-tests --bin bench-image -- [--boots N] [--clean-build]
//!
//! Prints one line per figure; every figure is measured in this run.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tdsigner_cli::launch::{self, LaunchOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

struct Boot {
    /// QEMU spawn → our banner in the serial log.
    to_banner: Duration,
    /// QEMU spawn → /health answered 200.
    to_health: Duration,
    /// The kernel's own uptime (since efi_main) in that /health answer.
    kernel_uptime_ms: u64,
}

fn boot_once(image: &Path, scratch: &Path, memory: &str, timeout: Duration) -> Result<Boot, String> {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    let opts = LaunchOptions {
        source_root: root(),
        image: image.to_path_buf(),
        disk: scratch.join("disk.img"),
        log: scratch.join("serial.log"),
        http_port: free_port(),
        memory: memory.to_string(),
        cmdline: None,
        p2p_port: None,
    };
    let start = Instant::now();
    let mut node = launch::start(&opts)?;
    let mut to_banner = None;
    let deadline = start + timeout;
    let result = loop {
        if to_banner.is_none() && node.serial().contains("tdsigner 0.1.0 platform=") {
            to_banner = Some(start.elapsed());
        }
        if !node.alive() {
            break Err(format!("QEMU exited: {}", node.serial().lines().last().unwrap_or("")));
        }
        if let Ok(r) = tdsigner_cli::http::get(node.http, "/health", Duration::from_millis(200)) {
            if r.status == 200 {
                let to_health = start.elapsed();
                let json: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
                break Ok(Boot {
                    to_banner: to_banner.unwrap_or(to_health),
                    to_health,
                    kernel_uptime_ms: json["uptime_ms"].as_u64().unwrap_or(0),
                });
            }
        }
        if Instant::now() > deadline {
            break Err("timeout".to_string());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    node.stop();
    result
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut boots = 5;
    let mut clean_build = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--boots" => boots = args.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "--clean-build" => clean_build = true,
            _ => {
                eprintln!("usage: bench-image [--boots N] [--clean-build]");
                std::process::exit(2);
            }
        }
    }
    let out = root().join("target/bench-image");
    let target_dir = clean_build.then(|| {
        let dir = out.join("clean-target");
        let _ = std::fs::remove_dir_all(&dir);
        dir
    });
    let started = Instant::now();
    let built = tdsigner_image_build::build(&tdsigner_image_build::BuildOptions {
        source_dir: root(),
        out_dir: out.clone(),
        target_dir,
    })
    .unwrap_or_else(|e| panic!("build: {e}"));
    let build_time = started.elapsed();
    let size = built.manifest.size;
    println!("image size: {size} bytes ({:.2} MiB; goal <= 4 MiB, limit 8 MiB)", size as f64 / 1048576.0);
    println!(
        "image build: {:.1} s ({})",
        build_time.as_secs_f64(),
        if clean_build { "clean: fresh target dir incl. core/alloc via build-std" } else { "incremental" }
    );

    let mut to_banner = Vec::new();
    let mut to_health = Vec::new();
    let mut firmware = Vec::new();
    for i in 0..boots {
        match boot_once(&built.image, &out.join(format!("boot-{i}")), "256M", Duration::from_secs(120)) {
            Ok(b) => {
                to_banner.push(b.to_banner.as_secs_f64());
                to_health.push(b.to_health.as_secs_f64());
                firmware.push(b.to_health.as_secs_f64() - b.kernel_uptime_ms as f64 / 1000.0);
            }
            Err(e) => eprintln!("boot {i} failed: {e}"),
        }
    }
    if !to_health.is_empty() {
        let h = median(to_health.clone());
        let f = median(firmware);
        println!(
            "qemu start -> /health (TCG, -m 256M, median of {}): {:.2} s; QEMU+OVMF before efi_main {:.2} s ({:.0}%), kernel {:.2} s; banner at {:.2} s",
            to_health.len(),
            h,
            f,
            100.0 * f / h,
            h - f,
            median(to_banner)
        );
    }

    let mut smallest = None;
    for mib in [256u32, 128, 96, 80, 64, 56, 48, 40, 32, 24] {
        let memory = format!("{mib}M");
        match boot_once(&built.image, &out.join(format!("mem-{mib}")), &memory, Duration::from_secs(60)) {
            Ok(_) => smallest = Some(mib),
            Err(e) => {
                println!("-m {memory}: does not boot and serve ({e})");
                break;
            }
        }
    }
    match smallest {
        Some(m) => println!("smallest -m that boots and serves /health: {m}M"),
        None => println!("smallest -m: none of the sizes tried worked"),
    }
}
