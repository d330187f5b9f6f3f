#![allow(dead_code)]
//! Locates ../shared/fixtures (or $TDSIGNER_FIXTURES) from the crate directory.

use std::path::PathBuf;

pub fn fixtures_dir() -> PathBuf {
    if let Ok(p) = std::env::var("TDSIGNER_FIXTURES") {
        return PathBuf::from(p);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dir = manifest.canonicalize().unwrap_or(manifest);
    loop {
        // The repository root is the first ancestor with a sibling shared/fixtures.
        let candidate = dir.join("../shared/fixtures");
        if candidate.is_dir() {
            return candidate;
        }
        if !dir.pop() {
            panic!("repository root with ../shared/fixtures not found; set TDSIGNER_FIXTURES");
        }
    }
}

pub fn lc(name: &str) -> Vec<u8> {
    let p = fixtures_dir().join("near-light-client").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn lc_json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&lc(name)).unwrap()
}
