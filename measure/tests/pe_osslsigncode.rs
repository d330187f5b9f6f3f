//! Cross-checks the edk2 Authenticode digest against osslsigncode, an independent Authenticode
//! implementation: sign a PE (TDSIGNER_PE, e.g. the built tdsigner.efi) with a throwaway key and
//! compare the digest osslsigncode embeds with ours computed over the signed file (which
//! exercises the CheckSum / certificate-directory / certificate-table exclusions).
//! Ignored by default (needs osslsigncode and openssl on PATH and a PE):
//! `TDSIGNER_PE=path.efi cargo test -p tdsigner-measure --test pe_osslsigncode -- --ignored`

use std::process::Command;

use sha2::Sha256;
use tdsigner_measure::hex;
use tdsigner_measure::pe::authenticode_digest;

#[test]
#[ignore]
fn matches_osslsigncode() {
    let pe = std::env::var("TDSIGNER_PE").expect("set TDSIGNER_PE");
    let dir = std::env::temp_dir().join(format!("tdsigner-osl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("spawn");
        assert!(out.status.success(), "{:?}: {}", cmd, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    run(Command::new("openssl").args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=throwaway"])
        .arg("-keyout").arg(dir.join("k.pem")).arg("-out").arg(dir.join("c.pem")));
    run(Command::new("osslsigncode").args(["sign", "-h", "sha256"])
        .arg("-certs").arg(dir.join("c.pem")).arg("-key").arg(dir.join("k.pem"))
        .arg("-in").arg(&pe).arg("-out").arg(dir.join("signed.efi")));
    // verify exits non-zero for the untrusted throwaway certificate; only its digest lines matter.
    let verify = Command::new("osslsigncode").arg("verify").arg("-in").arg(dir.join("signed.efi")).output().expect("spawn");
    let report = String::from_utf8_lossy(&verify.stdout).to_string();
    let embedded = report
        .lines()
        .find_map(|l| l.strip_prefix("Current message digest    : "))
        .expect("digest line")
        .trim()
        .to_lowercase();
    let signed = std::fs::read(dir.join("signed.efi")).expect("signed");
    let (ours, _) = authenticode_digest::<Sha256>(&signed).expect("digest");
    assert_eq!(hex::encode(&ours), embedded);
    // For the unsigned file, osslsigncode pads to 8 bytes before signing; edk2 does not pad, so
    // the unsigned digest equals the signed one exactly when the file is already 8-aligned.
    let original = std::fs::read(&pe).expect("pe");
    let (unsigned, _) = authenticode_digest::<Sha256>(&original).expect("digest");
    assert_eq!(unsigned == ours, original.len().is_multiple_of(8));
    let _ = std::fs::remove_dir_all(&dir);
}
