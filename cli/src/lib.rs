//! Host-side library behind the `tdsigner` tool, shared with the integration
//! tests: locating the source tree, launching the image under QEMU through
//! the `qemu/` scripts, and talking HTTP to it.
//!
//! - [`launch`]: start an emulated node (`qemu/run-emulated.sh`), wait for it,
//!   stop it by PID;
//! - [`http`]: a minimal, bounded HTTP/1.0 GET over loopback;
//! - [`cluster`]: the chain simulator plus N emulated nodes under QEMU
//!   (`tdsigner cluster demo`, and the end-to-end tests).

pub mod cluster;
pub mod http;
pub mod launch;

use std::path::{Path, PathBuf};

/// Finds the source tree: `TDSIGNER_SOURCE` if set, else the nearest ancestor
/// of the current directory that holds `image-build/toolchain.txt`.
pub fn source_root() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("TDSIGNER_SOURCE") {
        return Ok(PathBuf::from(dir));
    }
    let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
    find_root_from(&cwd).ok_or_else(|| {
        "not inside a tdsigner source tree (no image-build/toolchain.txt above the current directory); \
         run from the checkout or set TDSIGNER_SOURCE"
            .to_string()
    })
}

/// The nearest ancestor of `start` holding `image-build/toolchain.txt`.
pub fn find_root_from(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|d| d.join("image-build/toolchain.txt").is_file()).map(Path::to_path_buf)
}
