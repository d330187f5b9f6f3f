//! Two builds from two different directories are byte-identical.
//!
//! One build runs in the checkout itself (the same build the boot tests use);
//! the tracked source tree (git ls-files) is copied into a second directory
//! with a different path and path length and built there with its own target
//! directory. Image bytes and manifests must match.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

fn copy_tracked_tree(to: &Path) {
    let out = Command::new("git").arg("-C").arg(root()).args(["ls-files", "-z"]).output().expect("git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    for rel in out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).expect("utf-8 path"));
        let src = root().join(rel);
        if !src.is_file() {
            continue; // deleted in the work tree
        }
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        let mode = std::fs::metadata(&src).expect("stat").permissions();
        std::fs::set_permissions(&dst, mode).expect("chmod");
    }
}

#[test]
#[ignore = "two full image builds; run with --ignored (CI does)"]
fn two_directories_build_identical_images() {
    let base = root().join("target/repro").join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&base);
    let a = root();
    let b = base.join("bb/some/other-checkout-path");
    copy_tracked_tree(&b);
    let mut images = Vec::new();
    for (dir, out) in [(&a, a.join("target/test-image")), (&b, b.join("out"))] {
        let built = tdsigner_image_build::build(&tdsigner_image_build::BuildOptions {
            source_dir: dir.clone(),
            out_dir: out,
            target_dir: None,
        })
        .unwrap_or_else(|e| panic!("build in {}: {e}", dir.display()));
        let bytes = std::fs::read(&built.image).expect("read image");
        let manifest = std::fs::read_to_string(&built.manifest_path).expect("read manifest");
        images.push((bytes, manifest));
    }
    let (img_a, man_a) = &images[0];
    let (img_b, man_b) = &images[1];
    assert_eq!(img_a.len(), img_b.len(), "image sizes differ");
    if let Some(pos) = img_a.iter().zip(img_b.iter()).position(|(x, y)| x != y) {
        panic!("images differ first at byte {pos:#x}");
    }
    assert_eq!(man_a, man_b, "manifests differ");
    // Neither the checkout paths nor the user's home leak into the image.
    let home = std::env::var("HOME").unwrap_or_default();
    let mut needles = vec![a.to_string_lossy().into_owned(), b.to_string_lossy().into_owned()];
    if home.len() > 1 {
        needles.push(format!("{home}/"));
    }
    for needle in needles {
        let n = needle.as_bytes();
        assert!(!img_a.windows(n.len()).any(|w| w == n), "image contains the path {needle:?}");
    }
    let _ = std::fs::remove_dir_all(&base);
}
