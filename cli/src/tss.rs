//! `tdsigner tss ...` (threshold ECDSA tools) and the `near derive-key` command.
//!
//! - `tss simulate`: runs a whole cluster in this process over the in-memory network with
//!   random delivery order (keygen, triples, presignatures, signatures with NEAR-derived keys),
//!   checks every signature with k256 against the derived key and prints per-phase timings.
//! - `derive_key`: the NEAR derived public key for (root, predecessor, path); wired by main
//!   under `tdsigner near derive-key`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use k256::ecdsa::signature::hazmat::PrehashVerifier;
use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, RngCore, SeedableRng};
use tdsigner_tss::sim::{self, Traffic};
use k256::AffinePoint;
use tdsigner_tss::{
    near, sign::derived_public_key, Dkg, FullSignature, KeyShare, ParticipantId, ParticipantList,
    Presign, PresignatureShare, Sign, SignRequest, TripleGeneration, TripleShare,
};

mod participant;
mod participant_triples;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Run an in-process n-participant cluster and sign K messages with NEAR-derived keys.
    Simulate(SimulateArgs),
    /// One participant of a near-compatible protocol on ts-oracle's stdin/stdout line
    /// protocol (for router.py mixed clusters with near's implementation).
    #[command(subcommand)]
    Participant(participant::Command),
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Number of participants.
    #[arg(long)]
    pub n: u32,
    /// Threshold: shares needed to sign.
    #[arg(long)]
    pub t: usize,
    /// Number of signatures to produce.
    #[arg(long, default_value_t = 1)]
    pub signatures: usize,
    /// Seed for every random choice (keys, nonces, delivery order); random if absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Participants taking part in each signature (default: the threshold).
    #[arg(long)]
    pub signers: Option<usize>,
}

/// Arguments of `tdsigner near derive-key`.
#[derive(clap::Args)]
pub struct DeriveKeyArgs {
    /// Root public key of the MPC network, as a NEAR key string (`secp256k1:<base58 x‖y>`).
    #[arg(long)]
    pub root: String,
    /// The account that calls `sign` on the contract.
    #[arg(long)]
    pub predecessor: String,
    /// The derivation path passed to `sign`.
    #[arg(long)]
    pub path: String,
}

pub fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Participant(cmd) => participant::run(cmd),
        Command::Simulate(args) => match simulate(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("simulation failed: {e}");
                ExitCode::from(1)
            }
        },
    }
}

/// Prints the derived key; exit 0, or 2 when an input is malformed.
#[allow(dead_code)] // called from main's `near` group
pub fn derive_key(args: DeriveKeyArgs) -> ExitCode {
    let root = match near::parse_public_key_string(&args.root) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("--root: {e}");
            return ExitCode::from(2);
        }
    };
    match near::derive_public_key(&root, &args.predecessor, &args.path) {
        Ok(pk) => {
            println!("{}", near::public_key_string(&pk));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("derivation failed: {e}");
            ExitCode::from(2)
        }
    }
}

fn session(counter: &mut u64) -> [u8; 32] {
    *counter += 1;
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&counter.to_le_bytes());
    s[8..16].copy_from_slice(b"simulate");
    s
}

fn fmt_failures(f: &sim::Failures) -> String {
    f.iter()
        .map(|(p, e)| format!("{p}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

struct Phase {
    name: &'static str,
    time: Duration,
    items: usize,
    traffic: Traffic,
}

impl Phase {
    fn new(name: &'static str) -> Self {
        Phase { name, time: Duration::ZERO, items: 0, traffic: Traffic::default() }
    }

    /// Adds one timed protocol run of `items` items.
    fn add(&mut self, started: Instant, items: usize, traffic: Traffic) {
        self.time += started.elapsed();
        self.items += items;
        self.traffic.bytes += traffic.bytes;
        self.traffic.messages += traffic.messages;
    }
}

/// One simulated cluster's state between the phases of `simulate`.
struct Cluster {
    rng: ChaCha20Rng,
    counter: u64,
    t: usize,
    keys: Vec<KeyShare>,
}

impl Cluster {
    fn session(&mut self) -> [u8; 32] {
        session(&mut self.counter)
    }

    fn key_of(&self, p: ParticipantId) -> Result<&KeyShare, String> {
        self.keys.iter().find(|k| k.me == p).ok_or_else(|| "missing key share".into())
    }
}

fn check_simulate_args(args: &SimulateArgs) -> Result<usize, String> {
    let signers = args.signers.unwrap_or(args.t);
    if args.n < 2 || args.n > 64 {
        return Err("--n must be between 2 and 64".into());
    }
    if args.t == 0 || args.t > args.n as usize {
        return Err("--t must be between 1 and n".into());
    }
    if signers < args.t.max(2) || signers > args.n as usize {
        return Err("--signers must be between max(t, 2) and n".into());
    }
    if args.signatures == 0 || args.signatures > 10_000 {
        return Err("--signatures must be between 1 and 10000".into());
    }
    Ok(signers)
}

fn simulate(args: &SimulateArgs) -> Result<(), String> {
    let signers = check_simulate_args(args)?;
    let seed = args.seed.unwrap_or_else(|| OsRng.next_u64());
    println!("cluster n={} t={} signers={} signatures={} seed={seed}", args.n, args.t, signers, args.signatures);
    let rng = ChaCha20Rng::seed_from_u64(seed);
    let mut cluster = Cluster { rng, counter: 0, t: args.t, keys: Vec::new() };
    let all = ParticipantList::range(args.n).ok_or("bad participant count")?;
    let keygen = run_keygen(&mut cluster, &all)?;
    let root = cluster.keys[0].public_key();
    println!("root key {}", near::public_key_string(&root));
    let set = choose_signers(&mut cluster.rng, &all, signers)?;
    let (triples_phase, mut triples) = run_triples(&mut cluster, &set, 2 * args.signatures)?;
    let mut presign = Phase::new("presign");
    let mut sign = Phase::new("sign");
    for i in 0..args.signatures {
        let presigs = run_presign(&mut cluster, &set, &mut triples, &mut presign)?;
        sign_and_verify(&mut cluster, &root, i, presigs, &mut sign)?;
    }
    print_phases(&[keygen, triples_phase, presign, sign]);
    println!("{0}/{0} signatures verified against their derived keys", args.signatures);
    Ok(())
}

/// Keygen among all participants; every member must hold a share of one key.
fn run_keygen(cluster: &mut Cluster, all: &ParticipantList) -> Result<Phase, String> {
    let s = cluster.session();
    let mut parties = Vec::new();
    for p in all.iter() {
        parties.push((p, Dkg::keygen(s, all, cluster.t, p, &mut cluster.rng).map_err(|e| e.to_string())?));
    }
    let start = Instant::now();
    let (outs, traffic) =
        sim::run(parties, &mut cluster.rng).map_err(|f| format!("keygen: {}", fmt_failures(&f)))?;
    let mut phase = Phase::new("keygen");
    phase.add(start, 1, traffic);
    for (_, k) in outs {
        cluster.keys.push(k.ok_or("keygen gave a member no share")?);
    }
    let root = cluster.keys[0].public_key();
    if cluster.keys.iter().any(|k| k.public_key() != root) {
        return Err("participants disagree on the public key".into());
    }
    Ok(phase)
}

/// The signing subset, chosen at random.
fn choose_signers(rng: &mut ChaCha20Rng, all: &ParticipantList, signers: usize) -> Result<ParticipantList, String> {
    let mut pool: Vec<ParticipantId> = all.iter().collect();
    let mut chosen = Vec::new();
    while chosen.len() < signers {
        let i = (rng.next_u64() % pool.len() as u64) as usize;
        chosen.push(pool.swap_remove(i));
    }
    ParticipantList::new(&chosen).ok_or_else(|| "bad signer set".into())
}

/// `needed` triples for every signer, in batches; returns each signer's triples in set order.
fn run_triples(cluster: &mut Cluster, set: &ParticipantList, needed: usize) -> Result<(Phase, Vec<Vec<TripleShare>>), String> {
    let sharing_id = *cluster.keys[0].sharing_id();
    let mut triples: Vec<Vec<TripleShare>> = set.iter().map(|_| Vec::new()).collect();
    let mut phase = Phase::new("triples");
    while phase.items < needed {
        let batch = (needed - phase.items).min(tdsigner_tss::triples::MAX_BATCH);
        let s = cluster.session();
        let mut parties = Vec::new();
        for p in set.iter() {
            let r = ChaCha20Rng::seed_from_u64(cluster.rng.next_u64());
            let run = TripleGeneration::new(s, set, cluster.t, sharing_id, batch, p, r).map_err(|e| e.to_string())?;
            parties.push((p, run));
        }
        let start = Instant::now();
        let (outs, traffic) =
            sim::run(parties, &mut cluster.rng).map_err(|f| format!("triples: {}", fmt_failures(&f)))?;
        phase.add(start, batch, traffic);
        for (i, (_, v)) in outs.into_iter().enumerate() {
            triples[i].extend(v);
        }
    }
    Ok((phase, triples))
}

/// One presignature from two triples of every signer.
fn run_presign(
    cluster: &mut Cluster,
    set: &ParticipantList,
    triples: &mut [Vec<TripleShare>],
    phase: &mut Phase,
) -> Result<Vec<(ParticipantId, PresignatureShare)>, String> {
    let s = cluster.session();
    let mut parties = Vec::new();
    for (idx, p) in set.iter().enumerate() {
        let t1 = triples[idx].pop().ok_or("ran out of triples")?;
        let t0 = triples[idx].pop().ok_or("ran out of triples")?;
        parties.push((p, Presign::new(s, cluster.key_of(p)?, t0, t1).map_err(|e| e.to_string())?));
    }
    let start = Instant::now();
    let (presigs, traffic) =
        sim::run(parties, &mut cluster.rng).map_err(|f| format!("presign: {}", fmt_failures(&f)))?;
    phase.add(start, 1, traffic);
    Ok(presigs)
}

/// Signs request `i` with a random coordinator and checks the signature independently.
fn sign_and_verify(
    cluster: &mut Cluster,
    root: &AffinePoint,
    i: usize,
    presigs: Vec<(ParticipantId, PresignatureShare)>,
    phase: &mut Phase,
) -> Result<(), String> {
    let predecessor = "simulate.near";
    let path = format!("signature-{i}");
    let tweak = near::derive_tweak(predecessor, &path).map_err(|e| e.to_string())?;
    let mut msg_hash = [0u8; 32];
    cluster.rng.fill_bytes(&mut msg_hash);
    let mut entropy = [0u8; 32];
    cluster.rng.fill_bytes(&mut entropy);
    let request = SignRequest { msg_hash, tweak, entropy };
    let coordinator = presigs[(cluster.rng.next_u64() % presigs.len() as u64) as usize].0;
    let s = cluster.session();
    let mut parties = Vec::new();
    for (p, ps) in presigs {
        let run = Sign::new(s, cluster.key_of(p)?, ps, request.clone(), coordinator).map_err(|e| e.to_string())?;
        parties.push((p, run));
    }
    let start = Instant::now();
    let (outs, traffic) =
        sim::run(parties, &mut cluster.rng).map_err(|f| format!("sign: {}", fmt_failures(&f)))?;
    phase.add(start, 1, traffic);
    let sigs: Vec<_> = outs.into_iter().filter_map(|(_, o)| o).collect();
    let [sig] = sigs.as_slice() else {
        return Err(format!("signature {i}: expected one output at the coordinator, got {}", sigs.len()));
    };
    let derived = derived_public_key(root, &tweak);
    let expected = near::derive_public_key(root, predecessor, &path).map_err(|e| e.to_string())?;
    if derived != expected {
        return Err("derived key mismatch".into());
    }
    verify_with_k256(&derived, &msg_hash, sig).map_err(|e| format!("signature {i}: {e}"))?;
    if i == 0 {
        println!("derived key ({predecessor}, {path}) {}", near::public_key_string(&derived));
        println!("first response {}", near::signature_response_json(sig));
    }
    Ok(())
}

/// Independent verification with k256: low s, valid under `key`, recovery id recovers `key`.
fn verify_with_k256(key: &AffinePoint, msg_hash: &[u8; 32], sig: &FullSignature) -> Result<(), String> {
    let vk = k256::ecdsa::VerifyingKey::from_affine(*key).map_err(|e| e.to_string())?;
    let ksig = k256::ecdsa::Signature::from_scalars(sig.r().to_bytes(), sig.s.to_bytes()).map_err(|e| e.to_string())?;
    if ksig.normalize_s().is_some() {
        return Err("s is not low".into());
    }
    vk.verify_prehash(msg_hash, &ksig).map_err(|e| format!("does not verify: {e}"))?;
    let rid = k256::ecdsa::RecoveryId::from_byte(sig.recovery_id).ok_or("bad recovery id")?;
    let recovered = k256::ecdsa::VerifyingKey::recover_from_prehash(msg_hash, &ksig, rid)
        .map_err(|e| format!("recovery failed: {e}"))?;
    if recovered != vk {
        return Err("recovery id recovers another key".into());
    }
    Ok(())
}

fn print_phases(phases: &[Phase]) {
    println!(
        "{:<10} {:>8} {:>12} {:>12} {:>14} {:>10}",
        "phase", "items", "total ms", "ms/item", "bytes/item", "msgs/item"
    );
    for p in phases {
        let items = p.items.max(1);
        println!(
            "{:<10} {:>8} {:>12.1} {:>12.2} {:>14} {:>10}",
            p.name,
            p.items,
            p.time.as_secs_f64() * 1e3,
            p.time.as_secs_f64() * 1e3 / items as f64,
            p.traffic.bytes / items,
            p.traffic.messages / items
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulate_small_cluster_succeeds() {
        let args = SimulateArgs {
            n: 3,
            t: 2,
            signatures: 2,
            seed: Some(3),
            signers: Some(3),
        };
        simulate(&args).unwrap();
    }

    #[test]
    fn simulate_rejects_bad_parameters() {
        let args = SimulateArgs {
            n: 3,
            t: 4,
            signatures: 1,
            seed: Some(3),
            signers: None,
        };
        assert!(simulate(&args).is_err());
    }

    #[test]
    fn derive_key_exit_codes() {
        let root = near::public_key_string(&k256::AffinePoint::GENERATOR);
        let ok = DeriveKeyArgs {
            root,
            predecessor: "a.near".into(),
            path: "p".into(),
        };
        assert_eq!(derive_key(ok), ExitCode::SUCCESS);
        let bad = DeriveKeyArgs {
            root: "ed25519:xyz".into(),
            predecessor: "a".into(),
            path: "p".into(),
        };
        assert_eq!(derive_key(bad), ExitCode::from(2));
    }
}
