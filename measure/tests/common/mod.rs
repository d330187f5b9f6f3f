//! Shared helpers for the integration tests: locating ../shared/fixtures and dcap-qvl's samples.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `TDSIGNER_FIXTURES`, or `<repo root>/../shared/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TDSIGNER_FIXTURES") {
        return PathBuf::from(dir);
    }
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        if dir.join("Cargo.lock").exists() {
            return dir.join("../shared/fixtures");
        }
        if !dir.pop() {
            panic!("repository root not found above CARGO_MANIFEST_DIR");
        }
    }
}

pub fn tcb_info_bytes() -> Vec<u8> {
    let path = fixtures_dir().join("near-mpc/tcb_info.json");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `sample/` directory of the dcap-qvl crate this workspace builds against (cargo has
/// unpacked it in CARGO_HOME to build the crate).
pub fn dcap_qvl_samples() -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    let src = home.join("registry/src");
    let version = dcap_qvl_version();
    for entry in std::fs::read_dir(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display())).flatten() {
        let candidate = entry.path().join(format!("dcap-qvl-{version}/sample"));
        if candidate.is_dir() {
            return candidate;
        }
    }
    panic!("dcap-qvl-{version}/sample not found under {}", src.display());
}

/// dcap-qvl's version from the workspace Cargo.lock.
fn dcap_qvl_version() -> String {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    while !dir.join("Cargo.lock").exists() {
        assert!(dir.pop(), "Cargo.lock not found");
    }
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap_or_default();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"dcap-qvl\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return v.trim_end_matches('"').to_string();
            }
        }
    }
    panic!("dcap-qvl not in Cargo.lock");
}
