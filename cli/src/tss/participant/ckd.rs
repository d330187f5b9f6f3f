//! `tss participant ckd`: near's confidential key derivation (and CKD-PV) on BLS12-381, with
//! the oracle's arguments and DONE summary (`big_y`/`big_c` in NEAR form and hex, the
//! `ckd_output` as integer arrays, and the contract's `respond_ckd` payload).

use std::time::Instant;

use bls12_381::{G1Affine, G1Projective, G2Projective};
use serde_json::{json, Value};
use tdsigner_tss::near_compat::ckd::{Ckd, CkdArgs};
use tdsigner_tss::near_compat::group::Curve as _;
use tdsigner_tss::near_compat::Bls12381G2;

use super::{drive, hex_decode, hex_encode, read_share, rng_from_seed, CkdCliArgs, NearKey};

/// `bls12381g1:<base58 48 bytes>` or 96 hex chars.
fn parse_g1(s: &str, flag: &str) -> Result<G1Projective, String> {
    let bytes = match s.strip_prefix("bls12381g1:") {
        Some(b58) => bs58::decode(b58)
            .into_vec()
            .map_err(|e| format!("{flag}: {e}"))?,
        None => hex_decode(s).ok_or(format!("{flag}: not NEAR form or hex"))?,
    };
    let arr: [u8; 48] = bytes
        .try_into()
        .map_err(|_| format!("{flag}: expected 48 bytes"))?;
    Option::<G1Affine>::from(G1Affine::from_compressed(&arr))
        .filter(|p| !bool::from(p.is_identity()))
        .map(G1Projective::from)
        .ok_or(format!("{flag}: not a valid G1 point"))
}

fn near_g1(p: &G1Projective) -> (String, String, Vec<u8>) {
    let bytes = p.to_affine().to_compressed().to_vec();
    let near = format!("bls12381g1:{}", bs58::encode(&bytes).into_string());
    (near, hex_encode(&bytes), bytes)
}

pub fn run_ckd(a: CkdCliArgs) -> Result<(), String> {
    let started = Instant::now();
    let mut rng = rng_from_seed(&a.seed)?;
    let (private_share, public_key) = read_share::<Bls12381G2>(&a.share)?;
    let app_id =
        hex_decode(a.app_id.strip_prefix("0x").unwrap_or(&a.app_id)).ok_or("--app-id: bad hex")?;
    let app_public_key = parse_g1(&a.app_public_key, "--app-public-key")?;
    let app_public_key_g2: Option<G2Projective> = match &a.app_public_key_g2 {
        Some(k) => Some(Bls12381G2::parse_key(k).map_err(|e| format!("--app-public-key-g2: {e}"))?),
        None => None,
    };
    let pv = app_public_key_g2.is_some();
    let args = CkdArgs {
        private_share,
        public_key,
        app_id,
        app_public_key,
        app_public_key_g2,
    };
    let ckd = Ckd::new(&a.participants, a.leader, a.me, args, &mut rng)
        .map_err(|e| format!("ckd init: {e}"))?;
    let (output, stats) = drive(ckd, &a.participants, a.me)?;
    let mut sorted = a.participants.clone();
    sorted.sort_unstable();
    let mut done = json!({
        "protocol": if pv { "ckd_pv" } else { "ckd" }, "implementation": "tdsigner",
        "me": a.me, "leader": a.leader, "participants": sorted, "app_id": a.app_id,
        "app_public_key": a.app_public_key,
        "public_key": Bls12381G2::near_string(&public_key),
        "big_y": Value::Null, "big_c": Value::Null, "out": a.out,
        "stats": {
            "send_many": stats.send_many, "send_private": stats.send_private,
            "bytes_out": stats.bytes_out, "received": stats.received, "bytes_in": stats.bytes_in,
            "wall_ms": started.elapsed().as_millis() as u64,
        },
    });
    if let Some(out) = output {
        let (y, y_hex, y_bytes) = near_g1(&out.big_y);
        let (c, c_hex, c_bytes) = near_g1(&out.big_c);
        done["big_y"] = json!(y);
        done["big_c"] = json!(c);
        done["big_y_hex"] = json!(y_hex);
        done["big_c_hex"] = json!(c_hex);
        done["ckd_output"] = json!({"big_y": y_bytes, "big_c": c_bytes});
        done["contract_response"] = json!({"big_y": y, "big_c": c});
    }
    if let Some(path) = &a.out {
        std::fs::write(path, done.to_string()).map_err(|e| format!("--out {path}: {e}"))?;
    }
    println!("DONE {done}");
    Ok(())
}
