//! What the QEMU integration tests share: the repo root, the image built once
//! per test binary, and free loopback ports.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The repository root (the parent of `tests/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// Builds the image once per test binary, into `target/test-image`, and
/// returns its path. A failed build fails the test that asked for it.
pub fn test_image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            tdsigner_image_build::build(&tdsigner_image_build::BuildOptions {
                source_dir: repo_root(),
                out_dir: repo_root().join("target/test-image"),
                target_dir: None,
            })
            .unwrap_or_else(|e| panic!("image build failed: {e}"))
            .image
        })
        .clone()
}

/// A loopback TCP port free at the time of the call.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}
