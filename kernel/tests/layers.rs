//! The kernel's layers, checked: every `crate::<layer>` path in a file of
//! `src/<layer>/` names its own layer or one below it (see `src/main.rs`).
//! The pure library files that sit in the layer folders (`#[path]` modules of
//! `src/lib.rs`) belong to the library crate and are checked for not naming
//! the binary's layers at all.

use std::fs;
use std::path::{Path, PathBuf};

/// Lowest first. `main.rs` sits above all of them.
const LAYERS: [&str; 6] = ["platform", "arch", "boot", "drivers", "net", "guest"];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The library's `#[path = "…"]` files, relative to `src/`.
fn library_files(src: &Path) -> Vec<String> {
    let lib = fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("#[path = \"")?.strip_suffix("\"]").map(str::to_string))
        .collect()
}

/// Every layer named by a `crate::` path in `text`, comments included (a doc
/// link that points up is as misleading as an import that does).
fn layers_named(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                // `crate::{a::b, c}`: the first segment of each item.
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|item| item.trim().split("::").next().unwrap_or(""))
                    .collect(),
                None => vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")],
            };
            for name in names {
                if rank(name).is_some() {
                    found.push((number + 1, name.to_string()));
                }
            }
        }
    }
    found
}

#[test]
fn imports_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let library = library_files(&src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut violations = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        let Some((layer, _)) = relative.split_once('/') else { continue };
        let own = rank(layer).unwrap_or_else(|| panic!("{relative}: folder {layer} is not a layer in LAYERS"));
        let text = fs::read_to_string(path).expect("read file");
        let in_library = library.contains(&relative);
        for (line, named) in layers_named(&text) {
            let up = rank(&named).is_some_and(|r| r > own);
            if in_library || up {
                violations.push(format!("{relative}:{line}: layer {layer} names crate::{named}"));
            }
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} files under src/<layer>/");
    assert!(violations.is_empty(), "imports that point up:\n{}", violations.join("\n"));
}

#[test]
fn the_checker_sees_grouped_and_plain_paths() {
    let text = "use crate::{arch::apic, guest::runtime};\nlet x = crate::net::Network::new();";
    let named: Vec<String> = layers_named(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(named, ["arch", "guest", "net"]);
}

#[test]
fn every_layer_folder_says_what_it_owns() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for layer in LAYERS {
        let text = fs::read_to_string(src.join(layer).join("mod.rs")).expect("layer mod.rs");
        assert!(text.starts_with("//!"), "{layer}/mod.rs has no module doc");
        assert!(text.contains("**Layer:"), "{layer}/mod.rs does not name its layer");
    }
}
