//! `tdsigner-image-build [--source DIR] [--out DIR]`: builds the image
//! reproducibly (same as `tdsigner build`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut source = PathBuf::from(".");
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--source", Some(v)) => source = PathBuf::from(v),
            ("--out", Some(v)) => out = Some(PathBuf::from(v)),
            _ => {
                eprintln!("usage: tdsigner-image-build [--source DIR] [--out DIR]");
                return ExitCode::from(2);
            }
        }
    }
    let out_dir = out.unwrap_or_else(|| source.join("out"));
    let opts = tdsigner_image_build::BuildOptions { source_dir: source, out_dir, target_dir: None };
    match tdsigner_image_build::build(&opts) {
        Ok(b) => {
            println!("{} ({} bytes, sha384 {})", b.image.display(), b.manifest.size, b.manifest.sha384);
            println!("{}", b.manifest_path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tdsigner-image-build: {e}");
            ExitCode::FAILURE
        }
    }
}
