//! `tdsigner build` and `tdsigner run`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tdsigner_cli::launch::{self, LaunchOptions};
use tdsigner_image_build::{BuildOptions, BuildOutput, FirmwareInput};

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Output directory for tdsigner.efi and manifest.json (default: <source>/out).
    #[arg(long)]
    out: Option<PathBuf>,
    /// TDVF firmware (as for `tdsigner measure image`, e.g. from measure/tdvf/build-tdvf.sh):
    /// the manifest then states MRTD for the stated launch, and the firmware's SHA-256 and size.
    #[arg(long)]
    firmware: Option<PathBuf>,
    /// Directory with QEMU's fw_cfg ACPI files of the stated launch (table-loader and the files
    /// it allocates, as for `tdsigner measure image --acpi-dir`): with --firmware, the manifest
    /// then states RTMR0 too.
    #[arg(long, requires = "firmware")]
    acpi_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Run the emulated platform under QEMU TCG (the only mode that runs
    /// without TDX hardware; on a TDX host use qemu/run-tdx.sh).
    #[arg(long, required = true)]
    emulated: bool,
    /// Host port (on 127.0.0.1) forwarded to the node's HTTP port.
    #[arg(long, default_value_t = 8080)]
    http_port: u16,
    /// Guest memory (QEMU -m).
    #[arg(long, default_value = "256M")]
    memory: String,
    /// Data disk (created if missing).
    #[arg(long)]
    disk: Option<PathBuf>,
    /// Kernel command line (default: net=dhcp http=8080).
    #[arg(long)]
    cmdline: Option<String>,
    /// Use the existing out/tdsigner.efi instead of building first.
    #[arg(long)]
    no_build: bool,
    /// Boot this image instead of building out/tdsigner.efi.
    #[arg(long, conflicts_with = "no_build")]
    image: Option<PathBuf>,
    /// Serial log (default: out/serial-emulated.log).
    #[arg(long)]
    log: Option<PathBuf>,
    /// Seconds to wait for /health.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Leave QEMU running and exit once /health answers.
    #[arg(long)]
    detach: bool,
}

fn build_image(out: Option<PathBuf>, firmware: Option<&FirmwareInput>) -> Result<BuildOutput, String> {
    let source_dir = tdsigner_cli::source_root()?;
    let out_dir = out.unwrap_or_else(|| source_dir.join("out"));
    tdsigner_image_build::build_with_firmware(&BuildOptions { source_dir, out_dir, target_dir: None }, firmware)
        .map_err(|e| e.to_string())
}

pub fn build(args: BuildArgs) -> ExitCode {
    // Read and check the firmware inputs before the build, which takes minutes.
    let firmware = match &args.firmware {
        Some(path) => match FirmwareInput::load(path, args.acpi_dir.as_deref()) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("tdsigner build: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    match build_image(args.out, firmware.as_ref()) {
        Ok(b) => {
            let m = &b.manifest.measurements;
            println!("image    {} ({} bytes)", b.image.display(), b.manifest.size);
            println!("sha256   {}", b.manifest.sha256);
            println!("sha384   {}", b.manifest.sha384);
            println!("mrtd     {}", m.mrtd.as_deref().unwrap_or("(not computed)"));
            println!("rtmr0    {}", m.rtmr0.as_deref().unwrap_or("(not computed)"));
            println!("rtmr1    {}", m.rtmr1);
            println!("rtmr2    {}", m.rtmr2);
            if let Some(missing) = &m.missing {
                println!("missing  {missing}");
            }
            println!("manifest {}", b.manifest_path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tdsigner build: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(args: RunArgs) -> ExitCode {
    match run_emulated(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tdsigner run: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_emulated(args: RunArgs) -> Result<(), String> {
    debug_assert!(args.emulated);
    // From here on SIGINT, SIGTERM and SIGHUP stop the QEMU this command starts (it daemonizes
    // and would otherwise outlive us), whether it is still booting or already followed.
    launch::stop_started_on_signals("tdsigner run")?;
    let root = tdsigner_cli::source_root()?;
    let image = if let Some(image) = args.image {
        image
    } else if args.no_build {
        root.join("out/tdsigner.efi")
    } else {
        eprintln!("building the image (tdsigner build)...");
        build_image(None, None)?.image
    };
    let opts = LaunchOptions {
        source_root: root.clone(),
        image,
        disk: args.disk.unwrap_or_else(|| root.join("out/disk-emulated.img")),
        log: args.log.unwrap_or_else(|| root.join("out/serial-emulated.log")),
        http_port: args.http_port,
        memory: args.memory,
        cmdline: args.cmdline,
        p2p_port: None,
    };
    let mut node = launch::start(&opts)?;
    eprintln!("qemu pid {} (emulated platform, TCG); serial log {}", node.pid, node.log.display());
    let health = match node.wait_for_health(Duration::from_secs(args.timeout)) {
        Ok(h) => h,
        Err(e) => {
            let serial = node.serial();
            node.stop();
            let tail: Vec<&str> = serial.lines().rev().take(10).collect();
            return Err(format!(
                "{e}\nlast serial lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
    };
    println!("tdsigner is up: GET http://{}/health -> {}", node.http, health.text());
    if args.detach {
        let pid = node.detach();
        println!("left running: qemu pid {pid} (stop it with: kill {pid})");
        return Ok(());
    }
    eprintln!("following the serial log; Ctrl-C (or SIGTERM, SIGHUP) stops QEMU");
    follow_log(&node);
    // QEMU exited by itself (the signal handler exits the process after stopping it).
    node.stop();
    eprintln!("qemu pid {} exited", node.pid);
    Ok(())
}

/// Copies new serial output to stdout until QEMU exits.
fn follow_log(node: &launch::Node) {
    let Ok(mut file) = std::fs::File::open(&node.log) else { return };
    let mut pos = 0u64;
    let mut buf = Vec::new();
    while node.alive() {
        buf.clear();
        if file.seek(SeekFrom::Start(pos)).is_ok() {
            if let Ok(n) = file.read_to_end(&mut buf) {
                pos += n as u64;
                let text = String::from_utf8_lossy(&buf).replace('\r', "");
                let _ = std::io::stdout().write_all(text.as_bytes());
                let _ = std::io::stdout().flush();
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
