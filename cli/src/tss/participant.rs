//! `tdsigner tss participant …`: one participant of a near-compatible protocol
//! (`tdsigner_tss::near_compat`) speaking the line protocol of near's `ts-oracle`
//! (`../shared/oracles/README.md` §2), so `router.py` can run it beside near's own
//! implementation in a mixed cluster.
//!
//! stdout: `SEND_MANY <hex>`, `SEND_PRIVATE <to> <hex>`, `DONE <json>`, `ERROR <message>`;
//! stdin: `MSG <from> <hex>`, `END`, empty lines and `# …` ignored. The driving rule is the
//! oracle's: poke until Wait, then read exactly one line. Output files use the oracle's
//! keyshare format, so shares move freely between the two implementations.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, RngCore, SeedableRng};
use serde_json::{json, Value};
mod ckd;
mod ecdsa;

use tdsigner_tss::near_compat::{
    Action, Bls12381G2, Curve, Dkg, Ed25519, KeygenOutput, Protocol, ReshareInput, Secp256k1,
};

#[derive(clap::Subcommand)]
pub enum Command {
    /// near's DKG keygen.
    Keygen(KeygenArgs),
    /// near's reshare, run by every member of the new set.
    Reshare(ReshareArgs),
    /// near's refresh (a reshare to the same set with the same threshold).
    Refresh(RefreshArgs),
    /// near's EdDSA signing (FROST v1, tweaked share) on ed25519.
    EddsaSign(EddsaSignArgs),
    /// near's CaitSith presign from a pair of the oracle's triples file.
    Presign(PresignCliArgs),
    /// near's CaitSith sign (rerandomized presignature, low-s, recovery id).
    Sign(SignCliArgs),
    /// near's robust ECDSA (DamgardEtAl) presign with exactly 2·max_malicious + 1 participants.
    RobustPresign(RobustPresignCliArgs),
    /// near's robust ECDSA sign with the presignature's participants.
    RobustSign(RobustSignCliArgs),
    /// near's confidential key derivation on BLS12-381 (CKD-PV with --app-public-key-g2).
    Ckd(CkdCliArgs),
    /// near's CaitSith triple generation (`generate_triple_many`).
    Triples(super::participant_triples::TriplesArgs),
}

#[derive(clap::Args)]
pub struct CkdCliArgs {
    #[arg(long, value_delimiter = ',')]
    participants: Vec<u32>,
    #[arg(long)]
    me: u32,
    #[arg(long)]
    leader: u32,
    /// My bls12381 keyshare file.
    #[arg(long)]
    share: String,
    /// The request's app id (hex).
    #[arg(long)]
    app_id: String,
    /// The app's G1 key (`bls12381g1:<base58>` or 96 hex chars).
    #[arg(long)]
    app_public_key: String,
    /// The app's G2 key (`bls12381g2:<base58>` or hex): runs CKD-PV.
    #[arg(long)]
    app_public_key_g2: Option<String>,
    /// Write the DONE summary here as well.
    #[arg(long)]
    out: Option<String>,
    #[arg(long)]
    seed: Option<String>,
}

#[derive(clap::Args)]
pub struct RobustPresignCliArgs {
    #[arg(long, value_delimiter = ',')]
    participants: Vec<u32>,
    #[arg(long)]
    me: u32,
    /// My secp256k1 keyshare file.
    #[arg(long)]
    share: String,
    /// The domain threshold t (max_malicious = t − 1); default: the keyshare's.
    #[arg(long, conflicts_with = "max_malicious")]
    threshold: Option<usize>,
    /// The crate parameter directly.
    #[arg(long)]
    max_malicious: Option<usize>,
    /// Write the presignature (ts-oracle/presignature/v1, robust_ecdsa, mode 0600) here.
    #[arg(long)]
    out: Option<String>,
    #[arg(long)]
    seed: Option<String>,
}

#[derive(clap::Args)]
pub struct RobustSignCliArgs {
    #[command(flatten)]
    sign: SignCliArgs,
    /// The crate parameter directly (default: from --threshold, the presignature or keyshare).
    #[arg(long, conflicts_with = "threshold")]
    max_malicious: Option<usize>,
}

#[derive(clap::Args)]
pub struct PresignCliArgs {
    /// A triples file (ts-oracle/triples/v1): our shares of the pairs.
    #[arg(long)]
    triples: String,
    /// Which pair (2i, 2i+1) to consume; every participant must pass the same.
    #[arg(long, default_value_t = 0)]
    pair: usize,
    /// My secp256k1 keyshare file.
    #[arg(long)]
    share: String,
    /// Default: the triples' participants.
    #[arg(long, value_delimiter = ',')]
    participants: Option<Vec<u32>>,
    /// Default: the triples file's `me`.
    #[arg(long)]
    me: Option<u32>,
    /// Default: the keyshare's threshold.
    #[arg(long)]
    threshold: Option<usize>,
    /// Write the presignature (ts-oracle/presignature/v1, mode 0600) here.
    #[arg(long)]
    out: Option<String>,
}

#[derive(clap::Args)]
pub struct SignCliArgs {
    /// A presignature file (ts-oracle/presignature/v1, scheme ot_based_ecdsa).
    #[arg(long)]
    presig: String,
    #[arg(long)]
    leader: u32,
    /// The request's 32-byte tweak (hex, big-endian, < n).
    #[arg(long)]
    tweak: String,
    /// The 32-byte message hash (hex, big-endian, < n).
    #[arg(long)]
    msg_hash: String,
    /// The request block's 32-byte entropy (hex).
    #[arg(long)]
    entropy: String,
    /// My keyshare file (for the master public key and threshold).
    #[arg(long, conflicts_with = "public_key")]
    share: Option<String>,
    /// The master public key (NEAR form or hex), instead of --share.
    #[arg(long)]
    public_key: Option<String>,
    /// Default: the presignature's participants.
    #[arg(long, value_delimiter = ',')]
    participants: Option<Vec<u32>>,
    /// Default: the presignature file's `me`.
    #[arg(long)]
    me: Option<u32>,
    /// Default: the keyshare's or presignature's threshold.
    #[arg(long)]
    threshold: Option<usize>,
    /// Write the DONE summary here as well.
    #[arg(long)]
    out: Option<String>,
}

#[derive(clap::Args)]
pub struct EddsaSignArgs {
    #[arg(long, value_delimiter = ',')]
    participants: Vec<u32>,
    #[arg(long)]
    me: u32,
    #[arg(long)]
    leader: u32,
    #[arg(long)]
    threshold: usize,
    /// My ed25519 keyshare file.
    #[arg(long)]
    share: String,
    /// The request's 32-byte tweak (hex).
    #[arg(long)]
    tweak: String,
    /// The message as hex.
    #[arg(long, conflicts_with = "msg_utf8")]
    msg: Option<String>,
    /// The message as UTF-8 text.
    #[arg(long)]
    msg_utf8: Option<String>,
    /// Write the DONE summary here as well.
    #[arg(long)]
    out: Option<String>,
    #[arg(long)]
    seed: Option<String>,
}

#[derive(clap::Args)]
pub struct Common {
    /// secp256k1 or ed25519.
    #[arg(long)]
    curve: String,
    /// My participant id.
    #[arg(long)]
    me: u32,
    /// Write the keyshare (ts-oracle keyshare/v1 format, mode 0600) here.
    #[arg(long)]
    out: Option<String>,
    /// 64 hex chars (ChaCha20 seed) or a decimal u64; OS randomness if absent.
    #[arg(long)]
    seed: Option<String>,
}

#[derive(clap::Args)]
pub struct KeygenArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, value_delimiter = ',')]
    participants: Vec<u32>,
    #[arg(long)]
    threshold: usize,
}

#[derive(clap::Args)]
pub struct ReshareArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, value_delimiter = ',')]
    old_participants: Vec<u32>,
    #[arg(long)]
    old_threshold: usize,
    #[arg(long, value_delimiter = ',')]
    new_participants: Vec<u32>,
    #[arg(long)]
    new_threshold: usize,
    /// My old keyshare file (old members only).
    #[arg(long)]
    share: Option<String>,
    /// The public key (NEAR form or hex), required for a joiner.
    #[arg(long)]
    public_key: Option<String>,
}

#[derive(clap::Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, value_delimiter = ',')]
    participants: Vec<u32>,
    #[arg(long)]
    threshold: usize,
    #[arg(long)]
    share: String,
}

pub fn run(cmd: Command) -> ExitCode {
    let cmd = match cmd {
        Command::EddsaSign(args) => return report(run_eddsa(args)),
        Command::Presign(args) => return report(ecdsa::run_presign(args)),
        Command::Sign(args) => return report(ecdsa::run_sign(args)),
        Command::RobustPresign(args) => return report(ecdsa::run_robust_presign(args)),
        Command::RobustSign(args) => return report(ecdsa::run_robust_sign(args)),
        Command::Ckd(args) => return report(ckd::run_ckd(args)),
        Command::Triples(args) => return report(super::participant_triples::run_triples(args)),
        other => other,
    };
    let curve = match &cmd {
        Command::Keygen(a) => a.common.curve.clone(),
        Command::Reshare(a) => a.common.curve.clone(),
        Command::Refresh(a) => a.common.curve.clone(),
        _ => String::new(),
    };
    let result = match curve.as_str() {
        "secp256k1" => run_dkg::<Secp256k1>(cmd),
        "ed25519" => run_dkg::<Ed25519>(cmd),
        "bls12381" => run_dkg::<Bls12381G2>(cmd),
        other => Err(format!(
            "unsupported curve {other:?} (secp256k1, ed25519, bls12381)"
        )),
    };
    report(result)
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("ERROR {}", e.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

pub(crate) fn rng_from_seed(seed: &Option<String>) -> Result<ChaCha20Rng, String> {
    let Some(seed) = seed else {
        let mut s = [0u8; 32];
        OsRng.fill_bytes(&mut s);
        return Ok(ChaCha20Rng::from_seed(s));
    };
    let hex_part = seed.strip_prefix("0x").unwrap_or(seed);
    if hex_part.len() == 64 {
        let bytes = hex_decode(hex_part).ok_or("--seed: bad hex")?;
        let mut s = [0u8; 32];
        s.copy_from_slice(&bytes);
        return Ok(ChaCha20Rng::from_seed(s));
    }
    let n: u64 = seed
        .parse()
        .map_err(|_| "--seed: 64 hex chars or a decimal u64")?;
    Ok(ChaCha20Rng::seed_from_u64(n))
}

pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// NEAR's public key strings (`secp256k1:<base58 x‖y>`, `ed25519:<base58 32 bytes>`).
pub trait NearKey: Curve {
    fn near_string(p: &Self::Point) -> String;
    /// NEAR form or the crate's hex (compressed point).
    fn parse_key(s: &str) -> Result<Self::Point, String>;
    /// The node's `KeyshareData` variant name.
    const VARIANT: &'static str;
}

impl NearKey for Secp256k1 {
    const VARIANT: &'static str = "Secp256k1";
    fn near_string(p: &k256::ProjectivePoint) -> String {
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        let enc = p.to_affine().to_encoded_point(false);
        format!(
            "secp256k1:{}",
            bs58::encode(&enc.as_bytes()[1..]).into_string()
        )
    }
    fn parse_key(s: &str) -> Result<k256::ProjectivePoint, String> {
        let sec1 = match s.strip_prefix("secp256k1:") {
            Some(b58) => {
                let xy = bs58::decode(b58)
                    .into_vec()
                    .map_err(|e| format!("public key: {e}"))?;
                if xy.len() != 64 {
                    return Err("public key: expected 64 bytes x‖y".into());
                }
                [&[4u8][..], &xy].concat()
            }
            None => hex_decode(s).ok_or("public key: not NEAR form or hex")?,
        };
        let pk = k256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| "public key: not a point")?;
        Ok(pk.to_projective())
    }
}

impl NearKey for Ed25519 {
    const VARIANT: &'static str = "Ed25519";
    fn near_string(p: &curve25519_dalek::EdwardsPoint) -> String {
        format!(
            "ed25519:{}",
            bs58::encode(p.compress().as_bytes()).into_string()
        )
    }
    fn parse_key(s: &str) -> Result<curve25519_dalek::EdwardsPoint, String> {
        let bytes = match s.strip_prefix("ed25519:") {
            Some(b58) => bs58::decode(b58)
                .into_vec()
                .map_err(|e| format!("public key: {e}"))?,
            None => hex_decode(s).ok_or("public key: not NEAR form or hex")?,
        };
        Ed25519::point_from_bytes(&bytes).ok_or_else(|| "public key: not a valid point".into())
    }
}

impl NearKey for Bls12381G2 {
    const VARIANT: &'static str = "Bls12381";
    fn near_string(p: &bls12_381::G2Projective) -> String {
        let bytes = Bls12381G2::point_to_bytes(p).unwrap_or_default();
        format!("bls12381g2:{}", bs58::encode(bytes).into_string())
    }
    fn parse_key(s: &str) -> Result<bls12_381::G2Projective, String> {
        let bytes = match s.strip_prefix("bls12381g2:") {
            Some(b58) => bs58::decode(b58)
                .into_vec()
                .map_err(|e| format!("public key: {e}"))?,
            None => hex_decode(s).ok_or("public key: not NEAR form or hex")?,
        };
        Bls12381G2::point_from_bytes(&bytes)
            .ok_or_else(|| "public key: not a valid G2 point".into())
    }
}

/// Reads a keyshare (ts-oracle keyshare/v1, or a bare `KeygenOutput`): (share, public key).
fn read_share<C: NearKey>(path: &str) -> Result<(C::Scalar, C::Point), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--share {path}: {e}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("--share {path}: {e}"))?;
    let ko = v.get("keygen_output").unwrap_or(&v);
    let field = |name: &str| {
        ko.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("--share {path}: missing {name}"))
    };
    let bytes = hex_decode(field("private_share")?).filter(|b| b.len() == 32);
    let mut arr = [0u8; 32];
    arr.copy_from_slice(&bytes.ok_or(format!("--share {path}: bad private_share"))?);
    let share = C::scalar_from_bytes(&arr).ok_or(format!("--share {path}: share not canonical"))?;
    arr.fill(0);
    Ok((share, C::parse_key(field("public_key")?)?))
}

/// Writes the keyshare in the oracle's format, readable only by the owner.
fn write_share<C: NearKey>(
    path: &str,
    out: &KeygenOutput<C>,
    participants: &[u32],
    me: u32,
    threshold: usize,
) -> Result<(), String> {
    let ko = json!({
        "private_share": hex_encode(&C::scalar_to_bytes(out.private_share())),
        "public_key": hex_encode(&C::point_to_bytes(&out.public_key()).unwrap_or_default()),
    });
    let mut sorted = participants.to_vec();
    sorted.sort_unstable();
    let file = json!({
        "format": "ts-oracle/keyshare/v1", "curve": C::NAME, "participants": sorted,
        "me": me, "threshold": threshold, "public_key": C::near_string(&out.public_key()),
        "keygen_output": ko.clone(), "node_keyshare_data": { C::VARIANT: ko },
        "implementation": "tdsigner",
    });
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("--out {path}: {e}"))?;
    f.write_all(file.to_string().as_bytes())
        .map_err(|e| format!("--out {path}: {e}"))
}

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) send_many: u64,
    pub(crate) send_private: u64,
    pub(crate) bytes_out: u64,
    pub(crate) received: u64,
    pub(crate) bytes_in: u64,
}

/// Drives `proto` over stdin/stdout with the oracle's rule: poke until Wait, then read one line.
pub(crate) fn drive<P: Protocol>(
    mut proto: P,
    participants: &[u32],
    me: u32,
) -> Result<(P::Output, Stats), String> {
    let stdout = std::io::stdout();
    let mut stdin = std::io::stdin().lock();
    let mut stats = Stats::default();
    let mut line = String::new();
    loop {
        match proto.poke().map_err(|e| e.to_string())? {
            Action::SendMany(m) => {
                stats.send_many += 1;
                stats.bytes_out += m.len() as u64;
                writeln!(stdout.lock(), "SEND_MANY {}", hex_encode(&m))
                    .map_err(|e| e.to_string())?;
            }
            Action::SendPrivate(to, m) => {
                stats.send_private += 1;
                stats.bytes_out += m.len() as u64;
                writeln!(stdout.lock(), "SEND_PRIVATE {to} {}", hex_encode(&m))
                    .map_err(|e| e.to_string())?;
            }
            Action::Return(out) => return Ok((out, stats)),
            Action::Wait => loop {
                line.clear();
                let n = stdin.read_line(&mut line).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("stdin closed while waiting for messages".into());
                }
                let l = line.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                if l == "END" {
                    return Err("aborted by END".into());
                }
                let (from, data) = parse_msg(l, participants, me)?;
                stats.received += 1;
                stats.bytes_in += data.len() as u64;
                proto
                    .message(from, data)
                    .map_err(|e| format!("message from {from} rejected: {e}"))?;
                break;
            },
        }
    }
}

/// `MSG <from> <hex>` from another participant of this run.
fn parse_msg(line: &str, participants: &[u32], me: u32) -> Result<(u32, Vec<u8>), String> {
    let mut parts = line.split(' ');
    let (Some("MSG"), Some(from), Some(hex), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("unrecognized input line ({} chars)", line.len()));
    };
    let from: u32 = from.parse().map_err(|_| "MSG: bad sender id")?;
    if from == me || !participants.contains(&from) {
        return Err(format!(
            "MSG from {from}, not another participant of this run"
        ));
    }
    let data = hex_decode(hex).ok_or("MSG: bad hex")?;
    Ok((from, data))
}

/// What a DKG-family run needs, after argument parsing.
struct DkgRun<C: Curve> {
    protocol: &'static str,
    participants: Vec<u32>,
    threshold: usize,
    dkg: Dkg<C>,
    had_old_share: Option<bool>,
}

fn build_dkg<C: NearKey>(
    cmd: Command,
    rng: &mut ChaCha20Rng,
) -> Result<(DkgRun<C>, Common), String> {
    let err = |e: tdsigner_tss::near_compat::ProtocolError| format!("init: {e}");
    match cmd {
        Command::Keygen(a) => {
            let dkg =
                Dkg::<C>::keygen(&a.participants, a.common.me, a.threshold, rng).map_err(err)?;
            let run = DkgRun {
                protocol: "keygen",
                participants: a.participants,
                threshold: a.threshold,
                dkg,
                had_old_share: None,
            };
            Ok((run, a.common))
        }
        Command::Reshare(a) => {
            let (old_share, old_public_key) = match (&a.share, &a.public_key) {
                (Some(path), _) => {
                    let (s, pk) = read_share::<C>(path)?;
                    (Some(s), pk)
                }
                (None, Some(pk)) => (None, C::parse_key(pk)?),
                (None, None) => {
                    return Err(
                        "reshare: give --share (old member) or --public-key (joiner)".into(),
                    )
                }
            };
            let had = old_share.is_some();
            let old = ReshareInput {
                old_participants: a.old_participants,
                old_threshold: a.old_threshold,
                old_share,
                old_public_key,
            };
            let dkg =
                Dkg::<C>::reshare(&a.new_participants, a.common.me, a.new_threshold, old, rng)
                    .map_err(err)?;
            let run = DkgRun {
                protocol: "reshare",
                participants: a.new_participants,
                threshold: a.new_threshold,
                dkg,
                had_old_share: Some(had),
            };
            Ok((run, a.common))
        }
        Command::Refresh(a) => {
            let (share, pk) = read_share::<C>(&a.share)?;
            let old = ReshareInput {
                old_participants: a.participants.clone(),
                old_threshold: a.threshold,
                old_share: Some(share),
                old_public_key: pk,
            };
            let dkg = Dkg::<C>::reshare(&a.participants, a.common.me, a.threshold, old, rng)
                .map_err(err)?;
            let run = DkgRun {
                protocol: "refresh",
                participants: a.participants,
                threshold: a.threshold,
                dkg,
                had_old_share: Some(true),
            };
            Ok((run, a.common))
        }
        _ => Err("not a DKG command".into()),
    }
}

fn run_dkg<C: NearKey>(cmd: Command) -> Result<(), String> {
    let seed = match &cmd {
        Command::EddsaSign(a) => a.seed.clone(),
        Command::Triples(_) => None,
        Command::Keygen(a) => a.common.seed.clone(),
        Command::Reshare(a) => a.common.seed.clone(),
        Command::Refresh(a) => a.common.seed.clone(),
        _ => None,
    };
    let mut rng = rng_from_seed(&seed)?;
    let started = Instant::now();
    let (run, common) = build_dkg::<C>(cmd, &mut rng)?;
    let (output, stats) = drive(run.dkg, &run.participants, common.me)?;
    if let Some(path) = &common.out {
        write_share::<C>(path, &output, &run.participants, common.me, run.threshold)?;
    }
    let mut sorted = run.participants.clone();
    sorted.sort_unstable();
    let pk = output.public_key();
    let mut done = json!({
        "protocol": run.protocol, "implementation": "tdsigner", "curve": C::NAME,
        "me": common.me, "participants": sorted, "threshold": run.threshold,
        "public_key": C::near_string(&pk),
        "public_key_hex": hex_encode(&C::point_to_bytes(&pk).unwrap_or_default()),
        "out": common.out,
        "stats": {
            "send_many": stats.send_many, "send_private": stats.send_private,
            "bytes_out": stats.bytes_out, "received": stats.received, "bytes_in": stats.bytes_in,
            "wall_ms": started.elapsed().as_millis() as u64,
        },
    });
    if let Some(had) = run.had_old_share {
        done["had_old_share"] = json!(had);
    }
    println!("DONE {done}");
    Ok(())
}

fn run_eddsa(a: EddsaSignArgs) -> Result<(), String> {
    let mut rng = rng_from_seed(&a.seed)?;
    let started = Instant::now();
    let (share, pk) = read_share::<Ed25519>(&a.share)?;
    let tweak: [u8; 32] = hex_decode(&a.tweak)
        .and_then(|t| t.try_into().ok())
        .ok_or("--tweak: 64 hex chars")?;
    let message = match (&a.msg, &a.msg_utf8) {
        (Some(h), None) => hex_decode(h).ok_or("--msg: bad hex")?,
        (None, Some(t)) => t.as_bytes().to_vec(),
        _ => return Err("give exactly one of --msg, --msg-utf8".into()),
    };
    let sign = tdsigner_tss::near_compat::EddsaSign::new(
        &a.participants,
        a.threshold,
        a.me,
        a.leader,
        share,
        pk,
        &tweak,
        message,
        &mut rng,
    )
    .map_err(|e| format!("init: {e}"))?;
    let (signature, stats) = drive(sign, &a.participants, a.me)?;
    let t = tdsigner_tss::near_compat::eddsa::tweak_scalar(&tweak);
    let derived = pk + curve25519_dalek::EdwardsPoint::mul_base(&t);
    let mut sorted = a.participants.clone();
    sorted.sort_unstable();
    let done = json!({
        "protocol": "eddsa-sign", "implementation": "tdsigner", "me": a.me, "leader": a.leader,
        "participants": sorted, "threshold": a.threshold,
        "signature": signature.map(|s| hex_encode(&s)),
        "derived_public_key": Ed25519::near_string(&derived),
        "out": a.out,
        "stats": {
            "send_many": stats.send_many, "send_private": stats.send_private,
            "bytes_out": stats.bytes_out, "received": stats.received, "bytes_in": stats.bytes_in,
            "wall_ms": started.elapsed().as_millis() as u64,
        },
    });
    if let Some(path) = &a.out {
        std::fs::write(path, done.to_string()).map_err(|e| format!("--out {path}: {e}"))?;
    }
    println!("DONE {done}");
    Ok(())
}
