//! `qemu/run-tdx.sh --print-command` against a stand-in firmware, image and
//! manifest: the QEMU argv it would run (QGS as a JSON SocketAddress for both
//! QEMU variants, vsock and UNIX; launch shape and command line from the
//! manifest), and the firmware pin (refusal on a SHA-256 mismatch, the
//! override flag and what it says). Runs no QEMU: TDX hardware is not needed,
//! only bash, jq and coreutils.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tdsigner_tests::support::repo_root;

/// A launch the manifest below states; deliberately not run-tdx.sh's old
/// hard-coded values (1 vCPU, 256M, net=dhcp http=8080), so reading them from
/// the manifest is what the test sees.
const CPUS: u64 = 2;
const MEMORY: &str = "512M";
const CMDLINE: &str = "net=dhcp http=8081 account=node7.tdsigner.test key_source=test:7474747474747474747474747474747474747474747474747474747474747474";

struct Fixture {
    dir: PathBuf,
    firmware: PathBuf,
    other_firmware: PathBuf,
    image: PathBuf,
    manifest: PathBuf,
    unpinned_manifest: PathBuf,
    disk: PathBuf,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = repo_root().join("target/test-runs").join(format!("run-tdx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let firmware_bytes: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
        let image_bytes = b"MZ stand-in image".to_vec();
        let fixture = Fixture {
            firmware: dir.join("TDVF.fd"),
            other_firmware: dir.join("OTHER.fd"),
            image: dir.join("tdsigner.efi"),
            manifest: dir.join("manifest.json"),
            unpinned_manifest: dir.join("manifest-unpinned.json"),
            disk: dir.join("disk.img"),
            dir,
        };
        std::fs::write(&fixture.firmware, &firmware_bytes).expect("firmware");
        std::fs::write(&fixture.other_firmware, b"another TDVF").expect("firmware");
        std::fs::write(&fixture.image, &image_bytes).expect("image");
        let mut manifest = json!({
            "image": "tdsigner.efi",
            "sha256": sha256_hex(&image_bytes),
            "measurements": {
                "launch": {
                    "cpus": CPUS, "memory": MEMORY, "cmdline": CMDLINE, "qemu": ">= 10.1",
                    "firmware": {"sha256": sha256_hex(&firmware_bytes), "size": firmware_bytes.len(), "page_add_order": "single-pass"}
                },
                "mrtd": "00", "rtmr0": null, "rtmr1": "11", "rtmr2": "22", "missing": null
            }
        });
        std::fs::write(&fixture.manifest, serde_json::to_vec_pretty(&manifest).expect("json")).expect("manifest");
        manifest["measurements"]["launch"].as_object_mut().expect("launch").remove("firmware");
        std::fs::write(&fixture.unpinned_manifest, serde_json::to_vec_pretty(&manifest).expect("json")).expect("manifest");
        fixture
    }

    /// Runs the script with --print-command and the fixture's paths plus `extra`.
    fn run(&self, firmware: &Path, manifest: &Path, extra: &[&str]) -> Outcome {
        let out = Command::new(repo_root().join("qemu/run-tdx.sh"))
            .arg("--print-command")
            .arg("--firmware")
            .arg(firmware)
            .arg("--manifest")
            .arg(manifest)
            .arg("--image")
            .arg(&self.image)
            .arg("--disk")
            .arg(&self.disk)
            .arg("--log")
            .arg(self.dir.join("serial.log"))
            .args(extra)
            .output()
            .expect("run qemu/run-tdx.sh");
        Outcome {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// The printed command, split into arguments by a shell (so it is also
    /// checked to be valid shell input).
    fn argv(&self) -> Vec<String> {
        assert_eq!(self.code, Some(0), "run-tdx.sh failed:\n{}", self.stderr);
        let out = Command::new("bash")
            .arg("-c")
            .arg(r#"eval "set -- $1"; printf '%s\0' "$@""#)
            .arg("_")
            .arg(&self.stdout)
            .output()
            .expect("bash");
        assert!(out.status.success(), "printed command is not shell: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
    }
}

/// The value following `flag` (each occurrence).
fn values<'a>(argv: &'a [String], flag: &str) -> Vec<&'a str> {
    argv.windows(2).filter(|w| w[0] == flag).map(|w| w[1].as_str()).collect()
}

/// The tdx-guest object's quote-generation-socket, parsed as JSON.
fn qgs_socket(argv: &[String]) -> Value {
    let objects: Vec<Value> = values(argv, "-object").into_iter().filter_map(|o| serde_json::from_str(o).ok()).collect();
    assert_eq!(objects.len(), 1, "expected one JSON -object: {argv:?}");
    assert_eq!(objects[0]["qom-type"], "tdx-guest");
    assert_eq!(objects[0]["id"], "tdx0");
    objects[0]["quote-generation-socket"].clone()
}

#[test]
fn default_command_uses_the_manifest_launch_and_a_vsock_socket_address() {
    let f = Fixture::new("default");
    let argv = f.run(&f.firmware, &f.manifest, &[]).argv();
    assert_eq!(argv[0], "qemu-system-x86_64");
    assert_eq!(values(&argv, "-append"), [CMDLINE]);
    assert_eq!(values(&argv, "-smp"), [CPUS.to_string()]);
    assert_eq!(values(&argv, "-m"), [MEMORY]);
    assert_eq!(values(&argv, "-bios"), [f.firmware.to_str().expect("utf-8")]);
    assert_eq!(values(&argv, "-kernel"), [f.image.to_str().expect("utf-8")]);
    assert_eq!(qgs_socket(&argv), json!({"type": "vsock", "cid": "2", "port": "4050"}));
    assert!(!argv.iter().any(|a| a.contains("quote-generation-service")), "Intel 2023 fork property: {argv:?}");
    // The guest HTTP port forwarded is the command line's http=8081.
    assert_eq!(values(&argv, "-netdev"), ["user,id=net0,hostfwd=tcp:127.0.0.1:8080-:8081"]);
    assert!(values(&argv, "-machine")[0].contains("confidential-guest-support=tdx0"));
    assert!(!f.disk.exists(), "--print-command must not create the disk");
}

#[test]
fn both_qemu_variants_take_vsock_and_unix_qgs_as_socket_addresses() {
    let f = Fixture::new("qgs");
    for variant in ["upstream", "canonical-8.2"] {
        let unix = f.run(&f.firmware, &f.manifest, &["--qemu-variant", variant, "--qgs", "unix:/var/run/tdx-qgs/qgs.socket"]);
        assert_eq!(qgs_socket(&unix.argv()), json!({"type": "unix", "path": "/var/run/tdx-qgs/qgs.socket"}), "{variant}");
        let vsock = f.run(&f.firmware, &f.manifest, &["--qemu-variant", variant, "--qgs", "vsock:2:4051"]);
        assert_eq!(qgs_socket(&vsock.argv()), json!({"type": "vsock", "cid": "2", "port": "4051"}), "{variant}");
        let port = f.run(&f.firmware, &f.manifest, &["--qemu-variant", variant, "--qgs-port", "4052"]);
        assert_eq!(qgs_socket(&port.argv()), json!({"type": "vsock", "cid": "2", "port": "4052"}), "{variant}");
    }
    // Only the upstream variant gives the memory backend explicitly.
    let canonical = f.run(&f.firmware, &f.manifest, &["--qemu-variant", "canonical-8.2"]);
    assert!(canonical.stderr.contains("two-pass"), "canonical-8.2 must say its MRTD differs: {}", canonical.stderr);
    assert!(!values(&canonical.argv(), "-machine")[0].contains("memory-backend"));
    for bad in ["unix:relative/qgs.socket", "unix:/with\"quote", "vsock:2", "tcp:1.2.3.4:5"] {
        let out = f.run(&f.firmware, &f.manifest, &["--qgs", bad]);
        assert_eq!(out.code, Some(2), "--qgs {bad} accepted: {}", out.stdout);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_firmware_other_than_the_manifests_is_refused_unless_overridden() {
    let f = Fixture::new("pin");
    let refused = f.run(&f.other_firmware, &f.manifest, &[]);
    assert_eq!(refused.code, Some(2), "mismatching firmware accepted: {}", refused.stdout);
    assert!(refused.stdout.is_empty(), "printed a command: {}", refused.stdout);
    let other_sha = sha256_hex(b"another TDVF");
    assert!(refused.stderr.contains(&other_sha) && refused.stderr.contains("--allow-firmware-mismatch"), "{}", refused.stderr);

    let allowed = f.run(&f.other_firmware, &f.manifest, &["--allow-firmware-mismatch"]);
    assert!(allowed.stderr.contains("MRTD and RTMR0 will NOT match"), "{}", allowed.stderr);
    assert_eq!(values(&allowed.argv(), "-bios"), [f.other_firmware.to_str().expect("utf-8")]);

    // A manifest built without --firmware pins nothing: refused too, unless overridden.
    let unpinned = f.run(&f.firmware, &f.unpinned_manifest, &[]);
    assert_eq!(unpinned.code, Some(2));
    assert!(unpinned.stderr.contains("pins no firmware"), "{}", unpinned.stderr);
    let unpinned_allowed = f.run(&f.firmware, &f.unpinned_manifest, &["--allow-firmware-mismatch"]);
    assert_eq!(unpinned_allowed.code, Some(0), "{}", unpinned_allowed.stderr);
    assert!(unpinned_allowed.stderr.contains("pins no firmware"));

    // The matching firmware gives no warning.
    let matching = f.run(&f.firmware, &f.manifest, &[]);
    assert_eq!(matching.code, Some(0));
    assert!(!matching.stderr.contains("WARNING"), "{}", matching.stderr);
}

#[test]
fn an_explicit_command_line_replaces_the_manifests_and_says_so() {
    let f = Fixture::new("cmdline");
    let out = f.run(&f.firmware, &f.manifest, &["--cmdline", "net=dhcp http=9000 account='a b'"]);
    let argv = out.argv();
    assert_eq!(values(&argv, "-append"), ["net=dhcp http=9000 account='a b'"]);
    assert_eq!(values(&argv, "-netdev"), ["user,id=net0,hostfwd=tcp:127.0.0.1:8080-:9000"]);
    assert!(out.stderr.contains("not the manifest's launch command line"), "{}", out.stderr);
}
