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

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;
use sha2::{Digest, Sha256, Sha384};

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
/// The command line of the stated launch: the development defaults of
/// `qemu/run-emulated.sh`. RTMR2 depends on the whole command line, so every
/// node (its own account, key source) has its own RTMR2; compute it with
/// `tdsigner measure image --cmdline ...`.
pub const LAUNCH_CMDLINE: &str = "net=dhcp http=8080 account=node0.tdsigner.test key_source=test:7474747474747474747474747474747474747474747474747474747474747474";

/// Expected TDX measurements of the built image for the stated launch.
#[derive(Clone, Debug, Serialize)]
pub struct ExpectedMeasurements {
    pub launch: LaunchStatement,
    /// Needs the TDVF build and QEMU's ACPI tables (see `measure/README.md`);
    /// null when image-build was not given them.
    pub mrtd: Option<String>,
    pub rtmr0: Option<String>,
    /// Authenticode SHA-384 of the PE as QEMU ≥ 10.1 serves it, plus the EFI
    /// boot events (the image calls ExitBootServices).
    pub rtmr1: String,
    /// The command-line event for [`LAUNCH_CMDLINE`].
    pub rtmr2: String,
    /// What the null values need.
    pub missing: Option<String>,
}

/// The launch the expected values are for.
#[derive(Clone, Debug, Serialize)]
pub struct LaunchStatement {
    pub cpus: u32,
    pub memory: String,
    pub cmdline: String,
    pub qemu: String,
}

/// RTMR1 and RTMR2 of `image` for the stated launch (MRTD and RTMR0 need the
/// firmware and are left to `tdsigner measure image`).
pub fn expected_measurements(image: &[u8]) -> Result<ExpectedMeasurements, String> {
    use tdsigner_measure::{firmware, hex as mhex, launch, pe, rtmr};
    let served = launch::qemu_served_image(image, LAUNCH_CMDLINE.as_bytes(), false).map_err(|e| format!("{e:?}"))?;
    let (digest, _) = pe::authenticode_sha384(&served).map_err(|e| format!("{e:?}"))?;
    let rtmr1 = rtmr::fold(firmware::rtmr1_events(digest, true).iter().map(|e| &e.digest));
    let rtmr2 = rtmr::fold([tdsigner_measure::cmdline::cmdline_digest(LAUNCH_CMDLINE.as_bytes())].iter());
    Ok(ExpectedMeasurements {
        launch: LaunchStatement {
            cpus: LAUNCH_CPUS,
            memory: LAUNCH_MEMORY.to_string(),
            cmdline: LAUNCH_CMDLINE.to_string(),
            qemu: ">= 10.1 (upstream TDX; no legacy -kernel header patch)".to_string(),
        },
        mrtd: None,
        rtmr0: None,
        rtmr1: mhex::encode(&rtmr1),
        rtmr2: mhex::encode(&rtmr2),
        missing: Some(
            "mrtd and rtmr0 need the TDVF firmware (measure/tdvf/build-tdvf.sh) and the host's ACPI tables: \
             tdsigner measure image --firmware TDVF.fd --image out/tdsigner.efi --cmdline ... --cpus 1 --memory 256M --acpi-dir DIR"
                .to_string(),
        ),
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

/// Builds the image reproducibly and writes the image and its manifest.
pub fn build(opts: &BuildOptions) -> Result<BuildOutput, BuildError> {
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

    let measurements = expected_measurements(&bytes).map_err(|e| BuildError::Io {
        path: built.clone(),
        error: std::io::Error::other(format!("measuring the image: {e}")),
    })?;
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

    #[test]
    fn remaps_source_and_cargo_home() {
        let flags = rustflags(Path::new("/some/checkout"));
        assert!(flags.contains(&"--remap-path-prefix=/some/checkout=/build".to_string()));
        assert!(flags.iter().any(|f| f.ends_with("=/cargo")));
        assert!(flags.contains(&"link-arg=/Brepro".to_string()));
    }
}
