//! `tss participant presign|sign`: near's CaitSith presign and sign, with the oracle's files:
//! triples (`ts-oracle/triples/v1`, pairs (2i, 2i+1)) in, presignatures
//! (`ts-oracle/presignature/v1`, k256 values as UPPERCASE hex like the crate's serde) out and in,
//! and the oracle's DONE summary for signatures (with the contract's `respond` payload).

use std::io::Write;
use std::time::Instant;

use k256::{AffinePoint, ProjectivePoint, Scalar};
use serde_json::{json, Value};
use tdsigner_tss::near_compat::ecdsa::{derive_public_key, scalar_from_be, Rerandomization};
use tdsigner_tss::near_compat::presign::{TriplePub, TripleShare};
use tdsigner_tss::near_compat::protocol::Participants;
use tdsigner_tss::near_compat::{
    Curve, EcdsaSign, Presign, PresignArgs, PresignOutput, RerandomizedPresign, Secp256k1,
};

use tdsigner_tss::near_compat::robust::{
    RerandomizedRobustPresign, RobustPresign, RobustPresignOutput, RobustSign,
};

use super::{
    drive, hex_decode, hex_encode, read_share, rng_from_seed, NearKey, PresignCliArgs,
    RobustPresignCliArgs, RobustSignCliArgs, SignCliArgs, Stats,
};

fn read_json(path: &str, flag: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{flag} {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{flag} {path}: {e}"))
}

fn field<'a>(v: &'a Value, name: &str, ctx: &str) -> Result<&'a Value, String> {
    v.get(name).ok_or_else(|| format!("{ctx}: missing {name}"))
}

/// A canonical scalar from 64 hex chars (either case, big-endian).
fn scalar_hex(v: &Value, name: &str, ctx: &str) -> Result<Scalar, String> {
    let s = field(v, name, ctx)?
        .as_str()
        .ok_or(format!("{ctx}: {name} not a string"))?;
    let mut b: [u8; 32] = hex_decode(s)
        .and_then(|b| b.try_into().ok())
        .ok_or(format!("{ctx}: {name}: 64 hex chars"))?;
    let out = scalar_from_be(&b).ok_or(format!("{ctx}: {name}: scalar not < n"));
    b.fill(0);
    out
}

/// A SEC1-compressed point from hex.
fn point_hex(v: &Value, name: &str, ctx: &str) -> Result<AffinePoint, String> {
    let s = field(v, name, ctx)?
        .as_str()
        .ok_or(format!("{ctx}: {name} not a string"))?;
    let b = hex_decode(s).ok_or(format!("{ctx}: {name}: bad hex"))?;
    Secp256k1::point_from_bytes(&b)
        .map(|p| p.to_affine())
        .ok_or(format!("{ctx}: {name}: not a valid point"))
}

fn id_list(v: &Value, ctx: &str) -> Result<Vec<u32>, String> {
    v.as_array()
        .ok_or(format!("{ctx}: not a list"))?
        .iter()
        .map(|x| {
            x.as_u64()
                .and_then(|x| u32::try_from(x).ok())
                .ok_or(format!("{ctx}: bad id"))
        })
        .collect()
}

fn usize_field(v: &Value, name: &str, ctx: &str) -> Result<usize, String> {
    field(v, name, ctx)?
        .as_u64()
        .and_then(|x| usize::try_from(x).ok())
        .ok_or(format!("{ctx}: {name} not an integer"))
}

/// One `TripleGenerationOutput` = `[TripleShare, TriplePub]`.
fn read_triple(v: &Value, ctx: &str) -> Result<(TripleShare, TriplePub), String> {
    let (Some(share), Some(public)) = (v.get(0), v.get(1)) else {
        return Err(format!("{ctx}: expected [share, pub]"));
    };
    let share = TripleShare {
        a: scalar_hex(share, "a", ctx)?,
        b: scalar_hex(share, "b", ctx)?,
        c: scalar_hex(share, "c", ctx)?,
    };
    let public = TriplePub {
        big_a: point_hex(public, "big_a", ctx)?,
        big_b: point_hex(public, "big_b", ctx)?,
        big_c: point_hex(public, "big_c", ctx)?,
        participants: id_list(field(public, "participants", ctx)?, ctx)?,
        threshold: usize_field(public, "threshold", ctx)?,
    };
    Ok((share, public))
}

fn upper(bytes: &[u8]) -> String {
    hex_encode(bytes).to_uppercase()
}

fn compressed(p: &AffinePoint) -> Vec<u8> {
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    p.to_encoded_point(true).as_bytes().to_vec()
}

fn stats_json(stats: &Stats, started: Instant) -> Value {
    json!({
        "send_many": stats.send_many, "send_private": stats.send_private,
        "bytes_out": stats.bytes_out, "received": stats.received, "bytes_in": stats.bytes_in,
        "wall_ms": started.elapsed().as_millis() as u64,
    })
}

/// Writes `contents` readable only by the owner (presignatures are secret).
fn write_private(path: &str, contents: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("--out {path}: {e}"))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| format!("--out {path}: {e}"))
}

fn sorted(ids: &[u32]) -> Vec<u32> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v
}

/// The keyshare file's threshold (ts-oracle keyshare/v1), if present.
fn share_threshold(path: &str) -> Result<Option<usize>, String> {
    let v = read_json(path, "--share")?;
    Ok(v.get("threshold")
        .and_then(Value::as_u64)
        .and_then(|t| usize::try_from(t).ok()))
}

pub fn run_presign(a: PresignCliArgs) -> Result<(), String> {
    let started = Instant::now();
    let file = read_json(&a.triples, "--triples")?;
    let pair = file
        .get("pairs")
        .and_then(|p| p.get(a.pair))
        .ok_or(format!("--triples: no pair {}", a.pair))?;
    let triple0 = read_triple(&pair[0], "triple 0")?;
    let triple1 = read_triple(&pair[1], "triple 1")?;
    let participants = match a.participants {
        Some(p) => p,
        None => id_list(
            field(&file, "participants", "--triples")?,
            "--triples participants",
        )?,
    };
    let me = match a.me {
        Some(m) => m,
        None => u32::try_from(usize_field(&file, "me", "--triples")?)
            .map_err(|_| "--triples: bad me")?,
    };
    let threshold = match a.threshold.or(share_threshold(&a.share)?) {
        Some(t) => t,
        None => return Err("give --threshold (the keyshare has none)".into()),
    };
    let (private_share, public_key) = read_share::<Secp256k1>(&a.share)?;
    let args = PresignArgs {
        triple0,
        triple1,
        private_share,
        public_key,
        threshold,
    };
    let presign =
        Presign::new(&participants, me, args).map_err(|e| format!("presign init: {e}"))?;
    let (out, stats) = drive(presign, &participants, me)?;
    let big_r = hex_encode(&compressed(&out.big_r));
    if let Some(path) = &a.out {
        let file = json!({
            "format": "ts-oracle/presignature/v1", "scheme": "ot_based_ecdsa", "me": me,
            "threshold": threshold, "big_r": big_r, "consumed_triple_pair": a.pair,
            "triples_file": a.triples, "participants": sorted(&participants),
            "presignature": {
                "big_r": upper(&compressed(&out.big_r)),
                "k": upper(&out.k.to_bytes()), "sigma": upper(&out.sigma.to_bytes()),
            },
            "implementation": "tdsigner",
        });
        write_private(path, &file.to_string())?;
    }
    let done = json!({
        "protocol": "presign", "scheme": "ot_based_ecdsa", "implementation": "tdsigner",
        "me": me, "participants": sorted(&participants), "threshold": threshold,
        "big_r": big_r, "consumed_triple_pair": a.pair, "out": a.out,
        "stats": stats_json(&stats, started),
    });
    println!("DONE {done}");
    Ok(())
}

fn hex32(s: &str, flag: &str) -> Result<[u8; 32], String> {
    hex_decode(s.strip_prefix("0x").unwrap_or(s))
        .and_then(|b| b.try_into().ok())
        .ok_or(format!("{flag}: 64 hex chars"))
}

/// The presignature file: (output, participants, me, threshold).
fn read_presig(path: &str) -> Result<(PresignOutput, Vec<u32>, u32, Option<usize>), String> {
    let v = read_json(path, "--presig")?;
    if let Some(s) = v.get("scheme").and_then(Value::as_str) {
        if s != "ot_based_ecdsa" {
            return Err(format!(
                "--presig {path}: scheme {s}, expected ot_based_ecdsa"
            ));
        }
    }
    let p = field(&v, "presignature", "--presig")?;
    let out = PresignOutput {
        big_r: point_hex(p, "big_r", "--presig")?,
        k: scalar_hex(p, "k", "--presig")?,
        sigma: scalar_hex(p, "sigma", "--presig")?,
    };
    let participants = id_list(
        field(&v, "participants", "--presig")?,
        "--presig participants",
    )?;
    let me = u32::try_from(usize_field(&v, "me", "--presig")?).map_err(|_| "--presig: bad me")?;
    let threshold = v
        .get("threshold")
        .and_then(Value::as_u64)
        .and_then(|t| usize::try_from(t).ok());
    Ok((out, participants, me, threshold))
}

/// Sign inputs after parsing: (master pk, tweak, msg_hash scalar and bytes, entropy).
struct SignInputs {
    public_key: ProjectivePoint,
    tweak: Scalar,
    msg_hash: [u8; 32],
    entropy: [u8; 32],
    threshold: Option<usize>,
}

fn sign_inputs(a: &SignCliArgs) -> Result<SignInputs, String> {
    let (public_key, threshold) = match (&a.share, &a.public_key) {
        (Some(path), _) => (read_share::<Secp256k1>(path)?.1, share_threshold(path)?),
        (None, Some(k)) => (Secp256k1::parse_key(k)?, None),
        (None, None) => return Err("give --share or --public-key".into()),
    };
    let tweak = scalar_from_be(&hex32(&a.tweak, "--tweak")?).ok_or("--tweak: not < n")?;
    Ok(SignInputs {
        public_key,
        tweak,
        msg_hash: hex32(&a.msg_hash, "--msg-hash")?,
        entropy: hex32(&a.entropy, "--entropy")?,
        threshold,
    })
}

pub fn run_sign(a: SignCliArgs) -> Result<(), String> {
    let started = Instant::now();
    let inputs = sign_inputs(&a)?;
    let (presig, presig_participants, presig_me, presig_threshold) = read_presig(&a.presig)?;
    let participants = a.participants.clone().unwrap_or(presig_participants);
    let me = a.me.unwrap_or(presig_me);
    let threshold = a
        .threshold
        .or(inputs.threshold)
        .or(presig_threshold)
        .ok_or("give --threshold")?;
    let h = scalar_from_be(&inputs.msg_hash).ok_or("--msg-hash: not < n")?;
    let derived = derive_public_key(&inputs.public_key, &inputs.tweak).to_affine();
    let rerandomization = Rerandomization {
        public_key: inputs.public_key.to_affine(),
        tweak: inputs.tweak,
        msg_hash: inputs.msg_hash,
        big_r: presig.big_r,
        participants: Participants::new(&participants).ok_or("duplicate participants")?,
        entropy: inputs.entropy,
    };
    let rerandomized = RerandomizedPresign::new(&presig, &rerandomization)
        .map_err(|e| format!("rerandomize: {e}"))?;
    let sign = EcdsaSign::new(
        &participants,
        a.leader,
        threshold,
        me,
        derived,
        &rerandomized,
        h,
    )
    .map_err(|e| format!("sign init: {e}"))?;
    let (signature, stats) = drive(sign, &participants, me)?;
    let run = SignRun {
        scheme: "ot_based_ecdsa",
        protocol: "sign",
        me,
        participants,
        params: json!({"threshold": threshold}),
        master: inputs.public_key,
        derived,
    };
    report_signature(&a, &inputs, &run, signature, &stats, started)
}

/// What a sign run reports besides the signature.
struct SignRun {
    scheme: &'static str,
    protocol: &'static str,
    me: u32,
    participants: Vec<u32>,
    params: Value,
    master: ProjectivePoint,
    derived: AffinePoint,
}

/// Prints (and writes to --out) the oracle's DONE summary of a sign run.
fn report_signature(
    a: &SignCliArgs,
    inputs: &SignInputs,
    run: &SignRun,
    signature: Option<tdsigner_tss::near_compat::ecdsa::Signature>,
    stats: &Stats,
    started: Instant,
) -> Result<(), String> {
    let mut done = json!({
        "protocol": run.protocol, "scheme": run.scheme, "implementation": "tdsigner",
        "me": run.me, "leader": a.leader, "participants": sorted(&run.participants),
        "params": run.params,
        "public_key": Secp256k1::near_string(&run.master),
        "derived_public_key": Secp256k1::near_string(&ProjectivePoint::from(run.derived)),
        "tweak": a.tweak, "msg_hash": a.msg_hash, "entropy": a.entropy,
        "signature": Value::Null, "out": a.out, "stats": stats_json(stats, started),
    });
    if let Some(sig) = signature {
        let v = sig
            .recovery_id(&run.derived, &inputs.msg_hash)
            .ok_or("no recovery id recovers the derived key")?;
        let big_r = hex_encode(&compressed(&sig.big_r));
        let s = hex_encode(&sig.s.to_bytes());
        done["signature"] = json!({"big_r": big_r, "s": s, "recovery_id": v});
        done["contract_response"] = json!({
            "scheme": "Secp256k1", "big_r": {"affine_point": big_r}, "s": {"scalar": s},
            "recovery_id": v,
        });
    }
    if let Some(path) = &a.out {
        std::fs::write(path, done.to_string()).map_err(|e| format!("--out {path}: {e}"))?;
    }
    println!("DONE {done}");
    Ok(())
}

/// max_malicious from the explicit parameter, else domain threshold − 1.
fn max_malicious(explicit: Option<usize>, threshold: Option<usize>) -> Result<usize, String> {
    match (explicit, threshold) {
        (Some(m), _) => Ok(m),
        (None, Some(t)) if t >= 1 => Ok(t - 1),
        _ => Err("give --threshold or --max-malicious".into()),
    }
}

pub fn run_robust_presign(a: RobustPresignCliArgs) -> Result<(), String> {
    let started = Instant::now();
    let mut rng = rng_from_seed(&a.seed)?;
    let threshold = a.threshold.or(share_threshold(&a.share)?);
    let m = max_malicious(a.max_malicious, threshold)?;
    let (private_share, _) = read_share::<Secp256k1>(&a.share)?;
    let presign = RobustPresign::new(&a.participants, a.me, m, private_share, &mut rng)
        .map_err(|e| format!("robust presign init: {e}"))?;
    let (out, stats) = drive(presign, &a.participants, a.me)?;
    let big_r = hex_encode(&compressed(&out.big_r));
    let threshold = threshold.unwrap_or(m + 1);
    if let Some(path) = &a.out {
        let file = json!({
            "format": "ts-oracle/presignature/v1", "scheme": "robust_ecdsa", "me": a.me,
            "threshold": threshold, "max_malicious": m, "big_r": big_r,
            "participants": sorted(&a.participants),
            "presignature": {
                "big_r": upper(&compressed(&out.big_r)), "c": upper(&out.c.to_bytes()),
                "e": upper(&out.e.to_bytes()), "alpha": upper(&out.alpha.to_bytes()),
                "beta": upper(&out.beta.to_bytes()),
            },
            "implementation": "tdsigner",
        });
        write_private(path, &file.to_string())?;
    }
    let done = json!({
        "protocol": "robust-presign", "scheme": "robust_ecdsa", "implementation": "tdsigner",
        "me": a.me, "participants": sorted(&a.participants), "threshold": threshold,
        "max_malicious": m, "big_r": big_r, "out": a.out,
        "stats": stats_json(&stats, started),
    });
    println!("DONE {done}");
    Ok(())
}

/// The robust presignature file: (output, participants, me, max_malicious).
fn read_robust_presig(
    path: &str,
) -> Result<(RobustPresignOutput, Vec<u32>, u32, Option<usize>), String> {
    let v = read_json(path, "--presig")?;
    if v.get("scheme").and_then(Value::as_str) != Some("robust_ecdsa") {
        return Err(format!("--presig {path}: scheme must be robust_ecdsa"));
    }
    let p = field(&v, "presignature", "--presig")?;
    let out = RobustPresignOutput {
        big_r: point_hex(p, "big_r", "--presig")?,
        c: scalar_hex(p, "c", "--presig")?,
        e: scalar_hex(p, "e", "--presig")?,
        alpha: scalar_hex(p, "alpha", "--presig")?,
        beta: scalar_hex(p, "beta", "--presig")?,
    };
    let participants = id_list(
        field(&v, "participants", "--presig")?,
        "--presig participants",
    )?;
    let me = u32::try_from(usize_field(&v, "me", "--presig")?).map_err(|_| "--presig: bad me")?;
    let m = v
        .get("max_malicious")
        .and_then(Value::as_u64)
        .and_then(|t| usize::try_from(t).ok());
    Ok((out, participants, me, m))
}

pub fn run_robust_sign(r: RobustSignCliArgs) -> Result<(), String> {
    let started = Instant::now();
    let a = &r.sign;
    let inputs = sign_inputs(a)?;
    let (presig, presig_participants, presig_me, presig_m) = read_robust_presig(&a.presig)?;
    let participants = a.participants.clone().unwrap_or(presig_participants);
    let me = a.me.unwrap_or(presig_me);
    let m = match (r.max_malicious, a.threshold, presig_m) {
        (Some(m), _, _) => m,
        (None, Some(t), _) => max_malicious(None, Some(t))?,
        (None, None, Some(m)) => m,
        (None, None, None) => max_malicious(None, inputs.threshold)?,
    };
    let h = scalar_from_be(&inputs.msg_hash).ok_or("--msg-hash: not < n")?;
    let derived = derive_public_key(&inputs.public_key, &inputs.tweak).to_affine();
    let rerandomization = Rerandomization {
        public_key: inputs.public_key.to_affine(),
        tweak: inputs.tweak,
        msg_hash: inputs.msg_hash,
        big_r: presig.big_r,
        participants: Participants::new(&participants).ok_or("duplicate participants")?,
        entropy: inputs.entropy,
    };
    let rerandomized = RerandomizedRobustPresign::new(&presig, &rerandomization)
        .map_err(|e| format!("rerandomize: {e}"))?;
    let sign = RobustSign::new(&participants, a.leader, m, me, derived, &rerandomized, h)
        .map_err(|e| format!("robust sign init: {e}"))?;
    let (signature, stats) = drive(sign, &participants, me)?;
    let run = SignRun {
        scheme: "robust_ecdsa",
        protocol: "robust-sign",
        me,
        participants,
        params: json!({"threshold": m + 1, "max_malicious": m}),
        master: inputs.public_key,
        derived,
    };
    report_signature(a, &inputs, &run, signature, &stats, started)
}
