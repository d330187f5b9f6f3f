//! `tdsigner-image-build [--source DIR] [--out DIR] [--firmware TDVF.fd [--acpi-dir DIR]]`:
//! builds the image reproducibly (same as `tdsigner build`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut source = PathBuf::from(".");
    let mut out = None;
    let mut firmware = None;
    let mut acpi_dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--source", Some(v)) => source = PathBuf::from(v),
            ("--out", Some(v)) => out = Some(PathBuf::from(v)),
            ("--firmware", Some(v)) => firmware = Some(PathBuf::from(v)),
            ("--acpi-dir", Some(v)) => acpi_dir = Some(PathBuf::from(v)),
            _ => return usage(),
        }
    }
    if acpi_dir.is_some() && firmware.is_none() {
        return usage();
    }
    let firmware = match firmware.map(|f| tdsigner_image_build::FirmwareInput::load(&f, acpi_dir.as_deref())) {
        None => None,
        Some(Ok(input)) => Some(input),
        Some(Err(e)) => {
            eprintln!("tdsigner-image-build: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out_dir = out.unwrap_or_else(|| source.join("out"));
    let opts = tdsigner_image_build::BuildOptions { source_dir: source, out_dir, target_dir: None };
    match tdsigner_image_build::build_with_firmware(&opts, firmware.as_ref()) {
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

fn usage() -> ExitCode {
    eprintln!("usage: tdsigner-image-build [--source DIR] [--out DIR] [--firmware TDVF.fd [--acpi-dir DIR]]");
    ExitCode::from(2)
}
