//! Reproducible build of the tdsigner image.
//!
//! One entry point, [`build`], turns a source tree into `out/tdsigner.efi`
//! and `out/manifest.json`. Reproducibility comes from pinning everything
//! that reaches the bytes:
//! - the toolchain: Debian's Rust 1.96 packages, checked against
//!   `image-build/toolchain.txt` before anything runs ([`check_toolchain`]);
//! - the dependencies: `Cargo.lock`, with `--locked`;
//! - the environment: cargo runs with a cleared environment (only PATH,
//!   HOME, cargo's home, network/CA settings and the variables below), so a
//!   developer's RUSTFLAGS or target dir cannot leak in;
//! - paths: `--remap-path-prefix` maps the source tree to `/build` and cargo's
//!   home to `/cargo`; the PE gets `/Brepro` (no link timestamp) and
//!   `/DEBUG:NONE` (no PDB path);
//! - time: `SOURCE_DATE_EPOCH` is fixed ([`SOURCE_DATE_EPOCH`]).
//!
//! The manifest also states the TDX measurements expected for the built image
//! and one stated launch ([`expected_measurements`]). RTMR1 and RTMR2 follow
//! from the image alone; MRTD needs the TDVF firmware and RTMR0 the firmware
//! plus the host's ACPI tables. Those are host inputs ([`FirmwareInput`],
//! `tdsigner build --firmware F [--acpi-dir D]`); whatever was not supplied is
//! null and the manifest's `missing` says what it needs. The firmware is
//! identified by digest and size, never by path, so the manifest stays
//! reproducible.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;
use sha2::{Digest, Sha256, Sha384};
use tdsigner_measure::acpi::{AcpiError, AcpiInput};
use tdsigner_measure::launch::LaunchError;
use tdsigner_measure::tdvf::{PageAddOrder, Tdvf};

/// The fixed build time (2026-01-01T00:00:00Z). Nothing in the image should
/// depend on it; it is set so that any tool that does read it is stable.
pub const SOURCE_DATE_EPOCH: &str = "1767225600";
/// The image target.
pub const TARGET: &str = "x86_64-unknown-uefi";
/// The cargo profile (see the workspace Cargo.toml).
pub const PROFILE: &str = "image";
/// Where image-build places the image inside `--out`.
pub const IMAGE_NAME: &str = "tdsigner.efi";
/// Flags that make the build deterministic or make crates build for the
/// soft-float UEFI target: the SIMD paths of polyval, aes, curve25519-dalek,
/// poly1305 and chacha20 hit an LLVM "cannot split" error there, so their
/// portable backends are selected.
pub const BASE_RUSTFLAGS: &[&str] = &[
    "--cfg",
    "polyval_force_soft",
    "--cfg",
    "aes_force_soft",
    "--cfg",
    "curve25519_dalek_backend=\"serial\"",
    "--cfg",
    "poly1305_force_soft",
    "--cfg",
    "chacha20_force_soft",
    "-C",
    "link-arg=/Brepro",
    "-C",
    "link-arg=/DEBUG:NONE",
];
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";

/// Why a build could not run or failed.
#[derive(Debug)]
pub enum BuildError {
    /// `toolchain.txt` is missing or malformed.
    ToolchainSpec(String),
    /// The installed toolchain differs from the pinned one.
    ToolchainMismatch { what: String, expected: String, found: String },
    /// A tool could not be run.
    Spawn { tool: String, error: std::io::Error },
    /// cargo failed.
    CargoFailed { status: Option<i32> },
    /// Reading or writing build files failed.
    Io { path: PathBuf, error: std::io::Error },
    /// The firmware file is not a usable TDVF for the stated launch.
    Firmware { path: PathBuf, error: LaunchError },
    /// The ACPI directory could not be read or parsed.
    Acpi { dir: PathBuf, error: AcpiError },
    /// The expected measurements could not be computed for the built image.
    Measure(LaunchError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ToolchainSpec(m) => write!(f, "image-build/toolchain.txt: {m}"),
            BuildError::ToolchainMismatch { what, expected, found } => write!(
                f,
                "toolchain mismatch for {what}: expected `{expected}`, found `{found}`. The image is only \
                 reproducible with the pinned Debian toolchain; run image-build/setup.sh"
            ),
            BuildError::Spawn { tool, error } => write!(f, "cannot run {tool}: {error}"),
            BuildError::CargoFailed { status } => write!(f, "cargo build failed (exit status {status:?})"),
            BuildError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            BuildError::Firmware { path, error } => write!(f, "firmware {}: {error}", path.display()),
            BuildError::Acpi { dir, error } => write!(f, "ACPI tables in {}: {error}", dir.display()),
            BuildError::Measure(error) => write!(f, "measuring the image: {error}"),
        }
    }
}

impl std::error::Error for BuildError {}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |error| BuildError::Io { path: path.to_path_buf(), error }
}

/// The pinned toolchain, parsed from `toolchain.txt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ToolchainSpec {
    pub rustc: String,
    pub cargo: String,
    /// Debian package → exact version.
    pub packages: BTreeMap<String, String>,
}

impl ToolchainSpec {
    /// Parses the `key: value` lines of `toolchain.txt`.
    pub fn parse(text: &str) -> Result<ToolchainSpec, BuildError> {
        let mut rustc = None;
        let mut cargo = None;
        let mut packages = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| BuildError::ToolchainSpec(format!("line {}: expected `key: value`", n + 1)))?;
            let value = value.trim();
            match key.trim() {
                "rustc" => rustc = Some(value.to_string()),
                "cargo" => cargo = Some(value.to_string()),
                "package" => {
                    let (name, version) = value.split_once(' ').ok_or_else(|| {
                        BuildError::ToolchainSpec(format!("line {}: expected `package: NAME VERSION`", n + 1))
                    })?;
                    packages.insert(name.to_string(), version.trim().to_string());
                }
                other => return Err(BuildError::ToolchainSpec(format!("line {}: unknown key `{other}`", n + 1))),
            }
        }
        Ok(ToolchainSpec {
            rustc: rustc.ok_or_else(|| BuildError::ToolchainSpec("no `rustc:` line".into()))?,
            cargo: cargo.ok_or_else(|| BuildError::ToolchainSpec("no `cargo:` line".into()))?,
            packages,
        })
    }

    /// Reads `image-build/toolchain.txt` of a source tree.
    pub fn load(source_dir: &Path) -> Result<ToolchainSpec, BuildError> {
        let path = source_dir.join("image-build/toolchain.txt");
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        ToolchainSpec::parse(&text)
    }
}

fn first_line_of(tool: &str, args: &[&str]) -> Result<String, BuildError> {
    let out = Command::new(tool)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stderr(Stdio::null())
        .output()
        .map_err(|error| BuildError::Spawn { tool: tool.to_string(), error })?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_string())
}

/// Checks the installed Debian toolchain against `spec`; every mismatch is
/// an error naming the tool or package.
pub fn check_toolchain(spec: &ToolchainSpec) -> Result<(), BuildError> {
    let mismatch = |what: &str, expected: &str, found: String| BuildError::ToolchainMismatch {
        what: what.to_string(),
        expected: expected.to_string(),
        found: if found.is_empty() { "(not installed)".to_string() } else { found },
    };
    let rustc = first_line_of(DEBIAN_RUSTC, &["--version"]).unwrap_or_default();
    if rustc != spec.rustc {
        return Err(mismatch(DEBIAN_RUSTC, &spec.rustc, rustc));
    }
    let cargo = first_line_of(DEBIAN_CARGO, &["--version"]).unwrap_or_default();
    if cargo != spec.cargo {
        return Err(mismatch(DEBIAN_CARGO, &spec.cargo, cargo));
    }
    for (package, version) in &spec.packages {
        let found = first_line_of("dpkg-query", &["-W", "-f=${Version}", package]).unwrap_or_default();
        if &found != version {
            return Err(mismatch(&format!("Debian package {package}"), version, found));
        }
    }
    Ok(())
}

/// What to build and where.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The source tree (workspace root).
    pub source_dir: PathBuf,
    /// Where `tdsigner.efi` and `manifest.json` go.
    pub out_dir: PathBuf,
    /// Cargo's target dir; inside the source tree by default so the path remap
    /// covers build-script outputs too.
    pub target_dir: Option<PathBuf>,
}

/// The launch configuration the manifest states expected measurements for.
/// vCPU count and memory reach RTMR0 (TD HOB, ACPI), so they are fixed here
/// and in `qemu/run-tdx.sh`.
pub const LAUNCH_CPUS: u32 = 1;
/// Guest memory of the stated launch.
pub const LAUNCH_MEMORY: &str = "256M";
/// [`LAUNCH_MEMORY`] in bytes (the TD HOB describes it).
pub const LAUNCH_MEMORY_BYTES: u64 = 256 << 20;
/// The command line of the stated launch: the development defaults of
/// `qemu/run-emulated.sh`. It reaches no launch register (MRTD, RTMR0-2) on a
/// QEMU without the legacy header patch: RTMR2 is the image's fixed launch
/// event (`tdsigner_measure::cmdline::rtmr2_value`, the same for every node),
/// and the configuration is measured into RTMR3 (`tdsigner measure policy`).
pub const LAUNCH_CMDLINE: &str = "net=dhcp http=8080 account=node0.tdsigner.test key_source=test:7474747474747474747474747474747474747474747474747474747474747474";
/// MRTD page-add order of the stated QEMU (≥ 10.1: page by page).
pub const LAUNCH_PAGE_ADD_ORDER: PageAddOrder = PageAddOrder::SinglePass;

/// `missing` when neither the firmware nor the ACPI tables were given. Kept
/// verbatim: a build without them must produce the same manifest as before
/// the firmware inputs existed.
const MISSING_FIRMWARE_AND_ACPI: &str = "mrtd and rtmr0 need the TDVF firmware (measure/tdvf/build-tdvf.sh) and the host's ACPI tables: \
             tdsigner measure image --firmware TDVF.fd --image out/tdsigner.efi --cmdline ... --cpus 1 --memory 256M --acpi-dir DIR";
/// `missing` when the firmware was given but not the ACPI tables.
const MISSING_ACPI: &str = "rtmr0 needs the host's ACPI tables (QEMU's fw_cfg etc/table-loader and the blobs it allocates; \
             they depend on the QEMU version, machine type, vCPUs, memory and devices, see measure/README.md): \
             tdsigner build --firmware TDVF.fd --acpi-dir DIR, or tdsigner measure image --firmware TDVF.fd \
             --image out/tdsigner.efi --cmdline ... --cpus 1 --memory 256M --acpi-dir DIR";

/// Largest firmware file read (the TDVF parser's own limit).
const MAX_FIRMWARE_FILE: u64 = tdsigner_measure::tdvf::MAX_FIRMWARE_LEN as u64;

/// Host inputs of the firmware-dependent measurements: the TDVF that QEMU
/// loads as `-bios` (MRTD, and the TD HOB and CFV events of RTMR0) and,
/// optionally, QEMU's ACPI tables for the stated launch (the rest of RTMR0).
#[derive(Clone, Debug)]
pub struct FirmwareInput {
    /// The TDVF image bytes.
    pub tdvf: Vec<u8>,
    /// QEMU's fw_cfg ACPI files; without them RTMR0 stays null.
    pub acpi: Option<AcpiInput>,
}

impl FirmwareInput {
    /// Reads `firmware` and, if given, the ACPI files of `acpi_dir` (the
    /// layout of `tdsigner measure image --acpi-dir`). Checks them before the
    /// (long) image build: the firmware must be a TDVF whose TD HOB fits the
    /// stated memory and that has a CFV; the ACPI loader script must parse and
    /// name files that exist.
    pub fn load(firmware: &Path, acpi_dir: Option<&Path>) -> Result<FirmwareInput, BuildError> {
        let meta = fs::metadata(firmware).map_err(io_err(firmware))?;
        if meta.len() > MAX_FIRMWARE_FILE {
            return Err(BuildError::Io {
                path: firmware.to_path_buf(),
                error: std::io::Error::other(format!("larger than {MAX_FIRMWARE_FILE} bytes")),
            });
        }
        let tdvf = fs::read(firmware).map_err(io_err(firmware))?;
        let acpi = acpi_dir
            .map(|dir| AcpiInput::from_dir(dir).map_err(|error| BuildError::Acpi { dir: dir.to_path_buf(), error }))
            .transpose()?;
        if let (Some(dir), Some(acpi)) = (acpi_dir, &acpi) {
            acpi.measurements().map_err(|error| BuildError::Acpi { dir: dir.to_path_buf(), error })?;
        }
        let input = FirmwareInput { tdvf, acpi };
        input.check().map_err(|error| BuildError::Firmware { path: firmware.to_path_buf(), error })?;
        Ok(input)
    }

    /// Parses the TDVF and derives what RTMR0 takes from it for the stated
    /// memory, so a firmware that cannot serve the stated launch is refused.
    fn check(&self) -> Result<(), LaunchError> {
        let tdvf = Tdvf::parse(&self.tdvf).map_err(LaunchError::Firmware)?;
        tdvf.td_hob(LAUNCH_MEMORY_BYTES).map_err(LaunchError::Firmware)?;
        tdvf.cfv_digest().map_err(LaunchError::Firmware)?;
        Ok(())
    }
}

/// Expected TDX measurements of the built image for the stated launch.
#[derive(Clone, Debug, Serialize)]
pub struct ExpectedMeasurements {
    pub launch: LaunchStatement,
    /// Needs the TDVF firmware ([`FirmwareInput`]); null without it.
    pub mrtd: Option<String>,
    /// Needs the firmware and QEMU's ACPI tables; null without them.
    pub rtmr0: Option<String>,
    /// Authenticode SHA-384 of the PE as QEMU ≥ 10.1 serves it, plus the EFI
    /// boot events (the image calls ExitBootServices).
    pub rtmr1: String,
    /// The image's fixed RTMR2 launch event (`tdsigner.rtmr2`): the same for
    /// every node and command line.
    pub rtmr2: String,
    /// What the null values need; null when nothing is missing.
    pub missing: Option<String>,
}

/// The launch the expected values are for.
#[derive(Clone, Debug, Serialize)]
pub struct LaunchStatement {
    pub cpus: u32,
    pub memory: String,
    pub cmdline: String,
    pub qemu: String,
    /// The firmware MRTD and RTMR0 were computed for (absent when none was
    /// given, so such manifests are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<FirmwareStatement>,
    /// The ACPI tables RTMR0 was computed for (absent when none were given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acpi: Option<AcpiStatement>,
}

/// Identifies the TDVF by content, not by path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirmwareStatement {
    pub sha256: String,
    pub size: u64,
    /// The MRTD page-add order assumed for the stated QEMU.
    pub page_add_order: String,
    /// The edk2 generation whose RTMR0 event sequence was assumed
    /// (`pre202505` / `stable202505`), and why.
    pub variant: String,
    pub variant_source: String,
}

/// The RTMR0 "ACPI DATA" inputs, in measurement order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AcpiStatement {
    /// fw_cfg file name and SHA-384 of each measured blob.
    pub tables: Vec<AcpiTableStatement>,
    /// Whether the MADT of the tables was checked against [`LAUNCH_CPUS`].
    pub cpus_checked: bool,
}

/// One measured ACPI blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AcpiTableStatement {
    pub file: String,
    pub sha384: String,
}

fn page_add_order_name(order: PageAddOrder) -> &'static str {
    match order {
        PageAddOrder::SinglePass => "single-pass",
        PageAddOrder::TwoPass => "two-pass",
    }
}

/// Expected measurements of `image` for the stated launch: RTMR1 and RTMR2
/// always; MRTD with `firmware`; RTMR0 with `firmware` and its ACPI tables.
/// The computation is tdsigner-measure's (`Tdvf::mrtd`,
/// `launch::measure_launch`), the same as `tdsigner measure image`.
pub fn expected_measurements(
    image: &[u8],
    firmware: Option<&FirmwareInput>,
) -> Result<ExpectedMeasurements, LaunchError> {
    use tdsigner_measure::{firmware as fw_events, hex as mhex, launch, pe, rtmr};
    let mut statement = LaunchStatement {
        cpus: LAUNCH_CPUS,
        memory: LAUNCH_MEMORY.to_string(),
        cmdline: LAUNCH_CMDLINE.to_string(),
        qemu: ">= 10.1 (upstream TDX; no legacy -kernel header patch)".to_string(),
        firmware: None,
        acpi: None,
    };
    let Some(firmware) = firmware else {
        let served = launch::qemu_served_image(image, LAUNCH_CMDLINE.as_bytes(), false)?;
        let (digest, _) = pe::authenticode_sha384(&served).map_err(LaunchError::Image)?;
        let rtmr1 = rtmr::fold(fw_events::rtmr1_events(digest, true).iter().map(|e| &e.digest));
        let rtmr2 = tdsigner_measure::cmdline::rtmr2_value();
        return Ok(ExpectedMeasurements {
            launch: statement,
            mrtd: None,
            rtmr0: None,
            rtmr1: mhex::encode(&rtmr1),
            rtmr2: mhex::encode(&rtmr2),
            missing: Some(MISSING_FIRMWARE_AND_ACPI.to_string()),
        });
    };

    // Without ACPI tables RTMR0 cannot be computed; measure_launch still gives
    // MRTD, RTMR1 and RTMR2 (ACPI only enters RTMR0), so it runs on an empty
    // digest list and its RTMR0 is discarded.
    let acpi = firmware.acpi.clone().unwrap_or(AcpiInput::Digests(Vec::new()));
    let config = launch::LaunchConfig {
        firmware: &firmware.tdvf,
        image,
        cmdline: LAUNCH_CMDLINE.as_bytes(),
        cpus: LAUNCH_CPUS,
        memory: LAUNCH_MEMORY_BYTES,
        acpi,
        page_add_order: LAUNCH_PAGE_ADD_ORDER,
        exit_boot_services: true,
        legacy_header_patch: false,
        firmware_variant: None,
    };
    let measured = launch::measure_launch(&config)?;
    statement.firmware = Some(FirmwareStatement {
        sha256: hex_digest::<Sha256>(&firmware.tdvf),
        size: firmware.tdvf.len() as u64,
        page_add_order: page_add_order_name(LAUNCH_PAGE_ADD_ORDER).to_string(),
        variant: measured.firmware_variant.name().to_string(),
        variant_source: measured.firmware_variant_source.clone(),
    });
    let (rtmr0, missing) = match &firmware.acpi {
        Some(acpi) => {
            let tables = acpi
                .measurements()
                .map_err(LaunchError::Acpi)?
                .into_iter()
                .map(|m| AcpiTableStatement { file: m.file, sha384: mhex::encode(&m.digest) })
                .collect();
            statement.acpi = Some(AcpiStatement { tables, cpus_checked: measured.cpus_checked });
            (Some(mhex::encode(&measured.rtmr0)), None)
        }
        None => (None, Some(MISSING_ACPI.to_string())),
    };
    Ok(ExpectedMeasurements {
        launch: statement,
        mrtd: Some(mhex::encode(&measured.mrtd)),
        rtmr0,
        rtmr1: mhex::encode(&measured.rtmr1),
        rtmr2: mhex::encode(&measured.rtmr2),
        missing,
    })
}

/// The manifest written next to the image.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    pub image: String,
    pub size: u64,
    pub sha256: String,
    pub sha384: String,
    pub target: String,
    pub profile: String,
    pub source_date_epoch: String,
    pub cargo_lock_sha256: String,
    pub rustflags: Vec<String>,
    pub toolchain: ToolchainSpec,
    pub measurements: ExpectedMeasurements,
}

/// A finished build.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    pub image: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

/// The RUSTFLAGS for a build from `source_dir`.
pub fn rustflags(source_dir: &Path) -> Vec<String> {
    let mut flags: Vec<String> = BASE_RUSTFLAGS.iter().map(|s| s.to_string()).collect();
    flags.push(format!("--remap-path-prefix={}=/build", source_dir.display()));
    if let Some(home) = cargo_home() {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags
}

/// Environment variables passed through to cargo (network and CA settings).
const PASSTHROUGH_ENV: &[&str] = &[
    "HOME",
    "CARGO_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CARGO_HTTP_CAINFO",
    "CARGO_HTTP_PROXY",
    "CARGO_NET_OFFLINE",
    "CARGO_NET_RETRY",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
];

fn hex_digest<D: Digest>(bytes: &[u8]) -> String {
    hex::encode(D::digest(bytes))
}

/// Builds the image reproducibly and writes the image and its manifest
/// (without firmware inputs: MRTD and RTMR0 are null).
pub fn build(opts: &BuildOptions) -> Result<BuildOutput, BuildError> {
    build_with_firmware(opts, None)
}

/// [`build`], with the manifest's MRTD (and with ACPI tables RTMR0) computed
/// from `firmware` for the stated launch.
pub fn build_with_firmware(opts: &BuildOptions, firmware: Option<&FirmwareInput>) -> Result<BuildOutput, BuildError> {
    let source_dir = opts.source_dir.canonicalize().map_err(io_err(&opts.source_dir))?;
    let spec = ToolchainSpec::load(&source_dir)?;
    check_toolchain(&spec)?;
    let target_dir = opts.target_dir.clone().unwrap_or_else(|| source_dir.join("target/image-build"));
    let flags = rustflags(&source_dir);

    let mut cmd = Command::new(DEBIAN_CARGO);
    cmd.current_dir(&source_dir).env_clear();
    for var in PASSTHROUGH_ENV {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd.env("PATH", "/usr/bin:/bin")
        .env("RUSTC", DEBIAN_RUSTC)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_TARGET_DIR", &target_dir)
        // The encoded form keeps paths with spaces intact (0x1f separates flags).
        .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\u{1f}"))
        .args([
            "build",
            "--locked",
            "-p",
            "tdsigner-kernel",
            "--bin",
            "tdsigner-kernel",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
            "-Zbuild-std=core,alloc,compiler_builtins",
            "-Zbuild-std-features=compiler-builtins-mem",
        ]);
    let status = cmd.status().map_err(|error| BuildError::Spawn { tool: DEBIAN_CARGO.to_string(), error })?;
    if !status.success() {
        return Err(BuildError::CargoFailed { status: status.code() });
    }

    let built = target_dir.join(TARGET).join(PROFILE).join("tdsigner-kernel.efi");
    let bytes = fs::read(&built).map_err(io_err(&built))?;
    let lock_path = source_dir.join("Cargo.lock");
    let lock = fs::read(&lock_path).map_err(io_err(&lock_path))?;
    fs::create_dir_all(&opts.out_dir).map_err(io_err(&opts.out_dir))?;
    let image = opts.out_dir.join(IMAGE_NAME);
    fs::write(&image, &bytes).map_err(io_err(&image))?;

    let measurements = expected_measurements(&bytes, firmware).map_err(BuildError::Measure)?;
    let manifest = Manifest {
        image: IMAGE_NAME.to_string(),
        size: bytes.len() as u64,
        sha256: hex_digest::<Sha256>(&bytes),
        sha384: hex_digest::<Sha384>(&bytes),
        target: TARGET.to_string(),
        profile: PROFILE.to_string(),
        source_date_epoch: SOURCE_DATE_EPOCH.to_string(),
        cargo_lock_sha256: hex_digest::<Sha256>(&lock),
        // Recorded without the machine-specific remap arguments, which name
        // local paths and do not reach the output.
        rustflags: BASE_RUSTFLAGS.iter().map(|s| s.to_string()).collect(),
        toolchain: spec,
        measurements,
    };
    let manifest_path = opts.out_dir.join("manifest.json");
    let mut json = serde_json::to_string_pretty(&manifest).map_err(|e| BuildError::Io {
        path: manifest_path.clone(),
        error: std::io::Error::other(e),
    })?;
    json.push('\n');
    fs::write(&manifest_path, json).map_err(io_err(&manifest_path))?;
    Ok(BuildOutput { image, manifest_path, manifest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_committed_spec() {
        let spec = ToolchainSpec::load(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()).unwrap();
        assert!(spec.rustc.starts_with("rustc 1.96.0 "));
        assert!(spec.cargo.starts_with("cargo 1.96.0 "));
        assert_eq!(spec.packages.get("rustc-web").map(String::as_str), Some("1.96.0+dfsg1-1~deb12u2"));
        assert!(spec.packages.contains_key("rust-web-src"));
        assert!(spec.packages.contains_key("rust-web-llvm"));
    }

    #[test]
    fn spec_errors_name_the_line() {
        let e = ToolchainSpec::parse("rustc: x\nbogus line\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = ToolchainSpec::parse("rustc: x\n").unwrap_err();
        assert!(e.to_string().contains("cargo"), "{e}");
        let e = ToolchainSpec::parse("rustc: x\ncargo: y\npackage: lonely\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
    }

    #[test]
    fn mismatch_is_refused_with_a_clear_message() {
        let spec = ToolchainSpec {
            rustc: "rustc 0.0.1 (nope)".into(),
            cargo: "cargo 0.0.1".into(),
            packages: BTreeMap::new(),
        };
        let e = check_toolchain(&spec).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("toolchain mismatch") && msg.contains("rustc 0.0.1 (nope)"), "{msg}");
    }

    /// A small TDVF: metadata reached through an OVMF-style GUIDed table at
    /// the end, with a CFV, an MR_EXTEND BFV, a TD_HOB and TEMP_MEM section.
    fn synthetic_tdvf() -> Vec<u8> {
        use tdsigner_measure::tdvf::{TABLE_FOOTER_GUID, TDX_METADATA_GUID};
        const SIZE: usize = 0x6000;
        const DESCRIPTOR: usize = 0x4000;
        let mut fw: Vec<u8> = (0..SIZE).map(|i| (i * 13 % 241) as u8).collect();
        // (file offset, raw size, GPA, memory size, type, attributes)
        let sections: [(u32, u32, u64, u64, u32, u32); 4] = [
            (0x0000, 0x1000, 0xffc8_0000, 0x1000, 1, 0), // CFV
            (0x1000, 0x2000, 0xffc8_1000, 0x2000, 0, 1), // BFV, extended into MRTD
            (0, 0, 0x0081_0000, 0x1000, 2, 0),           // TD_HOB
            (0, 0, 0x0080_0000, 0x4000, 3, 0),           // TEMP_MEM
        ];
        let mut descriptor = Vec::new();
        descriptor.extend_from_slice(b"TDVF");
        descriptor.extend_from_slice(&(16 + 32 * sections.len() as u32).to_le_bytes());
        descriptor.extend_from_slice(&1u32.to_le_bytes());
        descriptor.extend_from_slice(&(sections.len() as u32).to_le_bytes());
        for (offset, raw, gpa, mem, kind, attributes) in sections {
            descriptor.extend_from_slice(&offset.to_le_bytes());
            descriptor.extend_from_slice(&raw.to_le_bytes());
            descriptor.extend_from_slice(&gpa.to_le_bytes());
            descriptor.extend_from_slice(&mem.to_le_bytes());
            descriptor.extend_from_slice(&kind.to_le_bytes());
            descriptor.extend_from_slice(&attributes.to_le_bytes());
        }
        fw[DESCRIPTOR..DESCRIPTOR + descriptor.len()].copy_from_slice(&descriptor);
        // Table (read backwards from 32 bytes before the end):
        // [offset u32][len u16 = 22][metadata GUID][table len u16 = 40][footer GUID]
        let mut table = Vec::new();
        table.extend_from_slice(&((SIZE - DESCRIPTOR) as u32).to_le_bytes());
        table.extend_from_slice(&22u16.to_le_bytes());
        table.extend_from_slice(&TDX_METADATA_GUID);
        table.extend_from_slice(&40u16.to_le_bytes());
        table.extend_from_slice(&TABLE_FOOTER_GUID);
        let end = SIZE - 32;
        fw[end - table.len()..end].copy_from_slice(&table);
        fw
    }

    /// A PE32+ EFI application with one section, large enough for QEMU's
    /// direct-boot checks and without a Linux or multiboot header.
    fn synthetic_pe() -> Vec<u8> {
        let mut pe: Vec<u8> = (0..0x1000usize).map(|i| (i % 239) as u8).collect();
        pe[..0x200].fill(0);
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        pe[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes()); // x86-64
        pe[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes()); // one section
        pe[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes()); // optional header size
        let opt = coff + 20;
        pe[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes()); // PE32+
        pe[opt + 60..opt + 64].copy_from_slice(&0x200u32.to_le_bytes()); // SizeOfHeaders
        pe[opt + 68..opt + 70].copy_from_slice(&10u16.to_le_bytes()); // EFI application
        pe[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes()); // data directories
        let section = opt + 240;
        pe[section..section + 5].copy_from_slice(b".text");
        pe[section + 16..section + 20].copy_from_slice(&0xe00u32.to_le_bytes()); // SizeOfRawData
        pe[section + 20..section + 24].copy_from_slice(&0x200u32.to_le_bytes()); // PointerToRawData
        pe
    }

    /// QEMU-shaped fw_cfg ACPI files: a loader script allocating rsdp and
    /// tables, and tables holding an MADT with `cpus` enabled processors.
    fn synthetic_acpi(cpus: u8) -> AcpiInput {
        let allocate = |name: &str| {
            let mut entry = vec![0u8; 128];
            entry[..4].copy_from_slice(&1u32.to_le_bytes());
            entry[4..4 + name.len()].copy_from_slice(name.as_bytes());
            entry
        };
        let mut loader = allocate("etc/acpi/rsdp");
        loader.extend(allocate("etc/acpi/tables"));
        let mut madt = vec![0u8; 44];
        madt[..4].copy_from_slice(b"APIC");
        for id in 0..cpus {
            madt.extend_from_slice(&[0, 8, id, id, 1, 0, 0, 0]);
        }
        let len = madt.len() as u32;
        madt[4..8].copy_from_slice(&len.to_le_bytes());
        AcpiInput::Blobs {
            loader,
            blobs: vec![("etc/acpi/rsdp".into(), b"RSD PTR synthetic".to_vec()), ("etc/acpi/tables".into(), madt)],
        }
    }

    fn stated_launch<'a>(firmware: &'a [u8], image: &'a [u8], acpi: AcpiInput) -> tdsigner_measure::launch::LaunchConfig<'a> {
        tdsigner_measure::launch::LaunchConfig {
            firmware,
            image,
            cmdline: LAUNCH_CMDLINE.as_bytes(),
            cpus: LAUNCH_CPUS,
            memory: LAUNCH_MEMORY_BYTES,
            acpi,
            page_add_order: PageAddOrder::SinglePass,
            exit_boot_services: true,
            legacy_header_patch: false,
            firmware_variant: None,
        }
    }

    fn hex384(d: &[u8; 48]) -> String {
        hex::encode(d)
    }

    #[test]
    fn stated_memory_matches_its_bytes() {
        assert_eq!(tdsigner_measure::launch::parse_memory_size(LAUNCH_MEMORY), Some(LAUNCH_MEMORY_BYTES));
    }

    #[test]
    fn without_firmware_mrtd_and_rtmr0_are_null_and_the_json_is_unchanged() {
        let pe = synthetic_pe();
        let m = expected_measurements(&pe, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.mrtd, None);
        assert_eq!(m.rtmr0, None);
        let missing = m.missing.clone().unwrap_or_default();
        assert!(missing.contains("TDVF firmware") && missing.contains("ACPI"), "{missing}");
        // The manifest of a build without firmware inputs keeps the shape it
        // had before they existed (the reproducible-build test compares them).
        let json = serde_json::to_string(&m).unwrap_or_default();
        let expected = format!(
            "{{\"launch\":{{\"cpus\":1,\"memory\":\"256M\",\"cmdline\":\"{LAUNCH_CMDLINE}\",\
             \"qemu\":\">= 10.1 (upstream TDX; no legacy -kernel header patch)\"}},\
             \"mrtd\":null,\"rtmr0\":null,\"rtmr1\":\"{}\",\"rtmr2\":\"{}\",\"missing\":\"mrtd and rtmr0 need the \
             TDVF firmware (measure/tdvf/build-tdvf.sh) and the host's ACPI tables: tdsigner measure image --firmware \
             TDVF.fd --image out/tdsigner.efi --cmdline ... --cpus 1 --memory 256M --acpi-dir DIR\"}}",
            m.rtmr1, m.rtmr2
        );
        assert_eq!(json, expected);
    }

    #[test]
    fn firmware_fills_mrtd_as_measure_computes_it_and_names_acpi_as_missing() {
        let (fw, pe) = (synthetic_tdvf(), synthetic_pe());
        let input = FirmwareInput { tdvf: fw.clone(), acpi: None };
        let m = expected_measurements(&pe, Some(&input)).unwrap_or_else(|e| panic!("{e}"));
        let reference = tdsigner_measure::launch::measure_launch(&stated_launch(&fw, &pe, synthetic_acpi(1)))
            .unwrap_or_else(|e| panic!("{e}"));
        let tdvf_mrtd = Tdvf::parse(&fw).map(|t| t.mrtd(PageAddOrder::SinglePass)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reference.mrtd, tdvf_mrtd);
        assert_eq!(m.mrtd, Some(hex384(&reference.mrtd)));
        assert_eq!(m.rtmr0, None);
        assert_eq!(m.rtmr1, hex384(&reference.rtmr1));
        assert_eq!(m.rtmr2, hex384(&reference.rtmr2));
        // RTMR1/2 agree with the firmware-less path.
        let plain = expected_measurements(&pe, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((&m.rtmr1, &m.rtmr2), (&plain.rtmr1, &plain.rtmr2));
        let missing = m.missing.clone().unwrap_or_default();
        assert!(missing.starts_with("rtmr0 needs the host's ACPI tables"), "{missing}");
        assert!(!missing.contains("mrtd"), "{missing}");
        assert_eq!(
            m.launch.firmware,
            Some(FirmwareStatement {
                sha256: hex::encode(Sha256::digest(&fw)),
                size: fw.len() as u64,
                page_add_order: "single-pass".into(),
                variant: "pre202505".into(),
                variant_source: "ASSUMED: firmware not recognised; pre202505 is the default, pass --firmware-variant \
                                 stable202505 for edk2-stable202505 or later"
                    .into(),
            })
        );
        assert_eq!(m.launch.acpi, None);
        // No host path, and the firmware's identity is in the JSON.
        let json = serde_json::to_string(&m).unwrap_or_default();
        assert!(json.contains("\"firmware\":{\"sha256\":") && !json.contains("\"acpi\":"), "{json}");
    }

    #[test]
    fn firmware_and_acpi_fill_everything_as_measure_launch_does() {
        let (fw, pe) = (synthetic_tdvf(), synthetic_pe());
        let input = FirmwareInput { tdvf: fw.clone(), acpi: Some(synthetic_acpi(1)) };
        let m = expected_measurements(&pe, Some(&input)).unwrap_or_else(|e| panic!("{e}"));
        let reference = tdsigner_measure::launch::measure_launch(&stated_launch(&fw, &pe, synthetic_acpi(1)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.mrtd, Some(hex384(&reference.mrtd)));
        assert_eq!(m.rtmr0, Some(hex384(&reference.rtmr0)));
        assert_eq!(m.rtmr1, hex384(&reference.rtmr1));
        assert_eq!(m.rtmr2, hex384(&reference.rtmr2));
        assert_eq!(m.missing, None);
        let acpi = m.launch.acpi.clone().unwrap_or_else(|| panic!("no acpi statement"));
        assert!(acpi.cpus_checked);
        let files: Vec<&str> = acpi.tables.iter().map(|t| t.file.as_str()).collect();
        assert_eq!(files, ["etc/table-loader", "etc/acpi/rsdp", "etc/acpi/tables"]);

        // Other tables, another RTMR0 (and nothing else changes).
        let mut other = synthetic_acpi(1);
        if let AcpiInput::Blobs { blobs, .. } = &mut other {
            blobs[0].1 = b"RSD PTR other".to_vec();
        }
        let m2 = expected_measurements(&pe, Some(&FirmwareInput { tdvf: fw.clone(), acpi: Some(other) }))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(m2.rtmr0, m.rtmr0);
        assert_eq!((&m2.mrtd, &m2.rtmr1, &m2.rtmr2), (&m.mrtd, &m.rtmr1, &m.rtmr2));

        // Tables for two vCPUs do not describe the stated launch.
        let two = FirmwareInput { tdvf: fw, acpi: Some(synthetic_acpi(2)) };
        assert!(matches!(
            expected_measurements(&pe, Some(&two)),
            Err(LaunchError::CpuCountMismatch { stated: 1, madt: 2 })
        ));
    }

    #[test]
    fn load_reads_firmware_and_acpi_dir_and_refuses_bad_inputs() {
        let dir = std::env::temp_dir().join(format!("tdsigner-image-build-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let acpi_dir = dir.join("acpi");
        fs::create_dir_all(acpi_dir.join("etc/acpi")).unwrap_or_else(|e| panic!("{e}"));
        let AcpiInput::Blobs { loader, blobs } = synthetic_acpi(1) else { panic!("blobs") };
        fs::write(acpi_dir.join("table-loader"), &loader).unwrap_or_else(|e| panic!("{e}"));
        for (name, bytes) in &blobs {
            fs::write(acpi_dir.join(name), bytes).unwrap_or_else(|e| panic!("{e}"));
        }
        let fw_path = dir.join("tdvf.fd");
        fs::write(&fw_path, synthetic_tdvf()).unwrap_or_else(|e| panic!("{e}"));

        let loaded = FirmwareInput::load(&fw_path, Some(&acpi_dir)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.tdvf, synthetic_tdvf());
        assert!(matches!(loaded.acpi, Some(AcpiInput::Blobs { .. })));
        let only_fw = FirmwareInput::load(&fw_path, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(only_fw.acpi.is_none());

        // Not a TDVF.
        let junk = dir.join("junk.fd");
        fs::write(&junk, vec![0xa5u8; 0x6000]).unwrap_or_else(|e| panic!("{e}"));
        let e = FirmwareInput::load(&junk, None).unwrap_err();
        assert!(matches!(e, BuildError::Firmware { .. }), "{e}");
        // A blob the loader allocates is absent.
        fs::remove_file(acpi_dir.join("etc/acpi/tables")).unwrap_or_else(|e| panic!("{e}"));
        let e = FirmwareInput::load(&fw_path, Some(&acpi_dir)).unwrap_err();
        assert!(matches!(e, BuildError::Acpi { .. }), "{e}");
        // No such firmware file.
        let e = FirmwareInput::load(&dir.join("absent.fd"), None).unwrap_err();
        assert!(matches!(e, BuildError::Io { .. }), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn remaps_source_and_cargo_home() {
        let flags = rustflags(Path::new("/some/checkout"));
        assert!(flags.contains(&"--remap-path-prefix=/some/checkout=/build".to_string()));
        assert!(flags.iter().any(|f| f.ends_with("=/cargo")));
        assert!(flags.contains(&"link-arg=/Brepro".to_string()));
    }
}
