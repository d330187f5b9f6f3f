//! Two builds from two different directories are byte-identical.
//!
//! The tracked source tree is copied (git ls-files) into two directories with
//! different paths and lengths; each is built with its own target directory.

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
    let a = base.join("a/tdsigner");
    let b = base.join("bb/some/other-checkout-path");
    let mut images = Vec::new();
    for dir in [&a, &b] {
        copy_tracked_tree(dir);
        let built = tdsigner_image_build::build(&tdsigner_image_build::BuildOptions {
            source_dir: dir.clone(),
            out_dir: dir.join("out"),
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
    for needle in [a.to_string_lossy().as_bytes(), b.to_string_lossy().as_bytes(), b"/root/"] {
        assert!(!img_a.windows(needle.len()).any(|w| w == needle), "image contains {:?}", String::from_utf8_lossy(needle));
    }
    let _ = std::fs::remove_dir_all(&base);
}
