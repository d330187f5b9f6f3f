//! Mixed clusters with near's own implementation: `ts-oracle` (near/mpc's threshold-signatures
//! crate behind a line protocol) plays some participants and `tdsigner tss participant` the
//! rest, routed by `../shared/oracles/router.py`. Every run is bounded in time; the router is
//! started in its own process group, which is killed on every exit path.
//!
//! Checks are independent of both implementations' self-reports where possible: public keys
//! must agree across all participants, and Lagrange interpolation of threshold-sized subsets of
//! the share files (mixed subsets included) must give the secret of that public key.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tdsigner_tss::near_compat::ff::Field;
use tdsigner_tss::near_compat::group::Group;
use tdsigner_tss::near_compat::{Bls12381G2, Curve, Ed25519, Secp256k1};

const ROUTER_TIMEOUT: Duration = Duration::from_secs(60);

fn oracles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/oracles")
}

/// A router process in its own process group; the whole group is killed on drop.
struct Router(Child);

impl Drop for Router {
    fn drop(&mut self) {
        // `--` matters: without it some `kill`s parse "-<pgid>" as an option.
        let pgid = self.0.id();
        if pgid > 1 {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{pgid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.0.wait();
    }
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tdsigner-near-mixed-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs one router step: `oracle` template for the ids in `oracle_ids`, `ours` (with `{id}`)
/// for `our_ids`. Returns the router's JSON result; panics with its output if not ok.
fn route(dir: &Path, oracle_ids: &[u32], oracle: &str, our_ids: &[u32], ours: &str) -> Value {
    route_expecting(dir, oracle_ids, oracle, our_ids, ours, true)
}

/// As [`route`], demanding that the step succeeds (`expect_ok`) or fails.
fn route_expecting(
    dir: &Path,
    oracle_ids: &[u32],
    oracle: &str,
    our_ids: &[u32],
    ours: &str,
    expect_ok: bool,
) -> Value {
    use std::os::unix::process::CommandExt;
    let bin = env!("CARGO_BIN_EXE_tdsigner");
    let ids: Vec<String> = oracle_ids.iter().map(u32::to_string).collect();
    let mut cmd = Command::new("python3");
    cmd.arg(oracles().join("router.py"))
        .arg("--quiet")
        .arg("--timeout")
        .arg(ROUTER_TIMEOUT.as_secs().to_string());
    if !ids.is_empty() {
        cmd.arg("--ids")
            .arg(ids.join(","))
            .arg("--oracle")
            .arg(oracle);
    }
    for id in our_ids {
        cmd.arg("--run").arg(id.to_string()).arg(format!(
            "{bin} tss participant {}",
            ours.replace("{id}", &id.to_string())
        ));
    }
    cmd.current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let step = if our_ids.is_empty() { oracle } else { ours };
    let label = format!(
        "oracle {oracle_ids:?}, tdsigner {our_ids:?}: {}",
        step.split(' ').next().unwrap_or("")
    );
    finish(
        Router(cmd.spawn().expect("python3 router.py")),
        &label,
        expect_ok,
    )
}

/// Waits (bounded) for the router, parses its JSON result and checks `ok` is `expect_ok`.
fn finish(mut router: Router, label: &str, expect_ok: bool) -> Value {
    use std::io::Read;
    let started = Instant::now();
    let deadline = started + ROUTER_TIMEOUT + Duration::from_secs(10);
    // Drain both pipes concurrently so a chatty router can never block on a full pipe.
    let mut out_pipe = router.0.stdout.take().unwrap();
    let mut err_pipe = router.0.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    while router.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "router timed out: {label}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdout = out_reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("router output not JSON ({e}): {stdout}\n{stderr}"));
    assert_eq!(v["ok"], expect_ok, "mixed step ({label}): {v:#}\n{stderr}");
    let messages: u64 = v["messages"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|p| p["sent_many"].as_u64().zip(p["sent_private"].as_u64()))
                .map(|(a, b)| a + b)
                .sum()
        })
        .unwrap_or(0);
    eprintln!(
        "mixed step ok in {:.3}s ({messages} messages sent): {label}",
        started.elapsed().as_secs_f64()
    );
    v
}

/// The single public key every participant reported.
fn common_key(v: &Value) -> String {
    let done = v["done"].as_object().unwrap();
    let keys: Vec<&str> = done
        .values()
        .map(|d| d["public_key"].as_str().unwrap())
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] == w[1]),
        "public keys differ: {keys:?}"
    );
    keys[0].to_string()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Reads `file` (either implementation's keyshare) as (share, compressed public key hex).
fn share_of<C: Curve>(file: &Path) -> (C::Scalar, String) {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut b = [0u8; 32];
    b.copy_from_slice(&hex(v["keygen_output"]["private_share"].as_str().unwrap()));
    let s = C::scalar_from_bytes(&b).unwrap();
    (
        s,
        v["keygen_output"]["public_key"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// Interpolates the secret at 0 from `subset`'s share files and checks it against the key.
fn assert_reconstructs<C: Curve>(dir: &Path, pattern: &str, subset: &[u32], expect_ok: bool) {
    let mut secret = C::Scalar::ZERO;
    let mut pk_hex = String::new();
    for &i in subset {
        let (s, pk) = share_of::<C>(&dir.join(pattern.replace("{id}", &i.to_string())));
        let xi = C::participant_scalar(i);
        let mut l = C::Scalar::ONE;
        for &j in subset.iter().filter(|j| **j != i) {
            let xj = C::participant_scalar(j);
            l *= xj * (xj - xi).invert().unwrap();
        }
        secret += l * s;
        pk_hex = pk;
    }
    let got = C::point_to_bytes(&(C::Point::generator() * secret)).unwrap();
    let ok = got == hex(&pk_hex);
    assert_eq!(ok, expect_ok, "{} subset {subset:?} of {pattern}", C::NAME);
}

/// Keygen n=4, t=3 in three splits (oracle majority, even split, tdsigner majority).
fn keygen_mixed<C: Curve>(name: &str) {
    let curve = C::NAME;
    let splits: [(&[u32], &[u32]); 3] =
        [(&[1, 2, 3], &[0]), (&[0, 2], &[1, 3]), (&[3], &[0, 1, 2])];
    for (k, (oracle_ids, our_ids)) in splits.iter().enumerate() {
        let dir = workdir(&format!("{name}-{k}"));
        let args = format!(
            "keygen --curve {curve} --participants 0,1,2,3 --me {{id}} --threshold 3 --seed 7{k}0{{id}} --out share{{id}}.json"
        );
        let v = route(&dir, oracle_ids, &args, our_ids, &args);
        common_key(&v);
        for subset in [[0u32, 1, 2], [1, 2, 3], [0, 1, 3], [0, 2, 3]] {
            assert_reconstructs::<C>(&dir, "share{id}.json", &subset, true);
        }
        assert_reconstructs::<C>(&dir, "share{id}.json", &[0, 3], false);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn keygen_secp256k1_mixed_with_near() {
    keygen_mixed::<Secp256k1>("keygen-secp");
}

#[test]
fn keygen_bls12381_mixed_with_near() {
    keygen_mixed::<Bls12381G2>("keygen-bls");
}

#[test]
fn reshare_and_refresh_bls12381_mixed_with_near() {
    reshare_mixed::<Bls12381G2>("reshare-bls");
}

#[test]
fn keygen_ed25519_mixed_with_near() {
    keygen_mixed::<Ed25519>("keygen-ed");
}

/// Keygen (mixed), then reshare 4 → 5 with t 3 → 4 where the joiner (id 4) is tdsigner and
/// old shares are split, then reshare 5 → 5 (refresh) and 5 → {1,2,3,4,5} with an oracle joiner.
fn reshare_mixed<C: Curve>(name: &str) {
    let curve = C::NAME;
    let dir = workdir(name);
    let keygen = format!(
        "keygen --curve {curve} --participants 0,1,2,3 --me {{id}} --threshold 3 --seed 80{{id}} --out a{{id}}.json"
    );
    let pk = common_key(&route(&dir, &[0, 1], &keygen, &[2, 3], &keygen));

    // near shares and tdsigner shares → tdsigner joiner 4 (and an oracle at 0, 1).
    let old = format!("reshare --curve {curve} --old-participants 0,1,2,3 --old-threshold 3 --new-participants 0,1,2,3,4 --new-threshold 4 --me {{id}} --seed 81{{id}} --out b{{id}}.json");
    let member = format!("{old} --share a{{id}}.json");
    let joiner = format!("{old} --public-key {pk}");
    let v = route_split(
        &dir,
        &[
            (0, &member, true),
            (1, &member, true),
            (2, &member, false),
            (3, &member, false),
            (4, &joiner, false),
        ],
    );
    assert_eq!(common_key(&v), pk);
    assert_reconstructs::<C>(&dir, "b{id}.json", &[0, 1, 3, 4], true);
    assert_reconstructs::<C>(&dir, "b{id}.json", &[1, 2, 3, 4], true);
    assert_reconstructs::<C>(&dir, "b{id}.json", &[0, 2, 4], false);

    // Refresh as near's node runs it: reshare with identical sets; oracle at 2, 4.
    let refresh = format!("reshare --curve {curve} --old-participants 0,1,2,3,4 --old-threshold 4 --new-participants 0,1,2,3,4 --new-threshold 4 --me {{id}} --share b{{id}}.json --seed 82{{id}} --out c{{id}}.json");
    let v = route(&dir, &[2, 4], &refresh, &[0, 1, 3], &refresh);
    assert_eq!(common_key(&v), pk);
    assert_reconstructs::<C>(&dir, "c{id}.json", &[0, 2, 3, 4], true);

    // tdsigner shares (and near's) → near joiner 5; 0 leaves.
    let next = format!("reshare --curve {curve} --old-participants 0,1,2,3,4 --old-threshold 4 --new-participants 1,2,3,4,5 --new-threshold 3 --me {{id}} --seed 83{{id}} --out d{{id}}.json");
    let member = format!("{next} --share c{{id}}.json");
    let joiner = format!("{next} --public-key {pk}");
    let v = route_split(
        &dir,
        &[
            (1, &member, false),
            (2, &member, true),
            (3, &member, false),
            (4, &member, false),
            (5, &joiner, true),
        ],
    );
    assert_eq!(common_key(&v), pk);
    assert_reconstructs::<C>(&dir, "d{id}.json", &[1, 3, 5], true);
    assert_reconstructs::<C>(&dir, "d{id}.json", &[2, 4, 5], true);

    // The crate's own `refresh` command, mixed.
    let crate_refresh = format!("refresh --curve {curve} --participants 1,2,3,4,5 --threshold 3 --me {{id}} --share d{{id}}.json --seed 84{{id}} --out e{{id}}.json");
    let v = route(&dir, &[1, 5], &crate_refresh, &[2, 3, 4], &crate_refresh);
    assert_eq!(common_key(&v), pk);
    assert_reconstructs::<C>(&dir, "e{id}.json", &[1, 4, 5], true);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One step where each participant has its own argument template; `true` = oracle.
fn route_split(dir: &Path, parts: &[(u32, &String, bool)]) -> Value {
    route_split_expecting(dir, parts, true)
}

/// As [`route_split`], demanding that the step succeeds (`expect_ok`) or fails.
fn route_split_expecting(dir: &Path, parts: &[(u32, &String, bool)], expect_ok: bool) -> Value {
    use std::os::unix::process::CommandExt;
    let bin = env!("CARGO_BIN_EXE_tdsigner");
    let oracle = oracles().join("ts-oracle");
    let mut cmd = Command::new("python3");
    cmd.arg(oracles().join("router.py"))
        .arg("--quiet")
        .arg("--timeout")
        .arg(ROUTER_TIMEOUT.as_secs().to_string());
    for (id, args, is_oracle) in parts {
        let args = args.replace("{id}", &id.to_string());
        let line = if *is_oracle {
            format!("{} {args}", oracle.display())
        } else {
            format!("{bin} tss participant {args}")
        };
        cmd.arg("--run").arg(id.to_string()).arg(line);
    }
    cmd.current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let roles: Vec<String> = parts
        .iter()
        .map(|(id, _, o)| format!("{id}:{}", if *o { "near" } else { "tdsigner" }))
        .collect();
    let step = parts
        .first()
        .map(|p| p.1.split(' ').next().unwrap_or(""))
        .unwrap_or("");
    let label = format!("{} {step}", roles.join(","));
    finish(
        Router(cmd.spawn().expect("python3 router.py")),
        &label,
        expect_ok,
    )
}

#[test]
fn reshare_and_refresh_secp256k1_mixed_with_near() {
    reshare_mixed::<Secp256k1>("reshare-secp");
}

#[test]
fn reshare_and_refresh_ed25519_mixed_with_near() {
    reshare_mixed::<Ed25519>("reshare-ed");
}

const TWEAK: &str = "e4c9cc34fcc5f69fde83609d2f7739b541faa56c74cee872b220bdc3a85d1d4d";

/// The leader's signature of a sign step (followers report none).
fn leader_signature(v: &Value, leader: u32) -> String {
    let done = &v["done"];
    for (id, d) in done.as_object().unwrap() {
        let is_leader = id == &leader.to_string();
        assert_eq!(
            d["signature"].is_string(),
            is_leader,
            "signature presence at {id}: {d}"
        );
    }
    done[leader.to_string()]["signature"]
        .as_str()
        .unwrap()
        .to_string()
}

/// near's own verifier (`ts-oracle verify-eddsa`) on the derived key, and ours.
fn assert_eddsa_valid(pk: &str, message: &str, signature: &str) {
    let out = Command::new(oracles().join("ts-oracle"))
        .args([
            "verify-eddsa",
            "--public-key",
            pk,
            "--tweak",
            TWEAK,
            "--msg-utf8",
            message,
            "--signature",
            signature,
        ])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.trim().strip_prefix("DONE ").unwrap_or("{}")).unwrap();
    assert_eq!(v["valid"], true, "ts-oracle verify-eddsa: {line}");
    let pk_bytes = bs58::decode(pk.strip_prefix("ed25519:").unwrap())
        .into_vec()
        .unwrap();
    let tweak: [u8; 32] = hex(TWEAK).try_into().unwrap();
    let derived = Ed25519::point_from_bytes(&pk_bytes).unwrap()
        + curve25519_dalek::EdwardsPoint::mul_base(
            &tdsigner_tss::near_compat::eddsa::tweak_scalar(&tweak),
        );
    let sig: [u8; 64] = hex(signature).try_into().unwrap();
    assert!(tdsigner_tss::near_compat::eddsa::verify(
        &derived,
        message.as_bytes(),
        &sig
    ));
    let mut forged = sig;
    forged[40] ^= 1;
    assert!(!tdsigner_tss::near_compat::eddsa::verify(
        &derived,
        message.as_bytes(),
        &forged
    ));
}

/// FROST EdDSA with t = 3 of n = 4 after a mixed keygen: near leader with tdsigner followers,
/// tdsigner leader with near followers, and mixed followers.
#[test]
fn eddsa_sign_mixed_with_near() {
    let dir = workdir("eddsa");
    let keygen = "keygen --curve ed25519 --participants 0,1,2,3 --me {id} --threshold 3 --seed 90{id} --out ed{id}.json";
    let pk = common_key(&route(&dir, &[0, 2], keygen, &[1, 3], keygen));
    // (signers, leader, near's participants, ours)
    type Case<'a> = (&'a [u32], u32, &'a [u32], &'a [u32]);
    let cases: [Case; 4] = [
        (&[1, 2, 3], 2, &[2], &[1, 3]),
        (&[0, 1, 3], 1, &[0], &[1, 3]),
        (&[0, 2, 3], 3, &[0, 2], &[3]),
        (&[0, 1, 2], 0, &[0, 2], &[1]),
    ];
    for (k, (signers, leader, oracle_ids, our_ids)) in cases.iter().enumerate() {
        let list: Vec<String> = signers.iter().map(u32::to_string).collect();
        let message = format!("hello {k}");
        let args = format!(
            "eddsa-sign --participants {} --me {{id}} --leader {leader} --threshold 3 --share ed{{id}}.json --tweak {TWEAK} --msg-utf8 '{message}' --seed 91{k}{{id}}",
            list.join(",")
        );
        let v = route(&dir, oracle_ids, &args, our_ids, &args);
        assert_eddsa_valid(&pk, &message, &leader_signature(&v, *leader));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tdsigner participant whose polynomial degree disagrees with near's is refused by every
/// near participant (and refuses theirs): the mixed test harness can fail.
#[test]
fn inconsistent_threshold_is_refused_by_near() {
    let dir = workdir("negative");
    let near =
        "keygen --curve secp256k1 --participants 0,1,2,3 --me {id} --threshold 3 --seed 95{id}";
    let ours =
        "keygen --curve secp256k1 --participants 0,1,2,3 --me {id} --threshold 2 --seed 95{id}";
    let v = route_expecting(&dir, &[0, 1, 2], near, &[3], ours, false);
    for id in ["0", "1", "2"] {
        let e = v["errors"][id].as_str().unwrap_or("");
        assert!(
            e.contains("incorrect number of commitments"),
            "near {id}: {e}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const MSG_HASH: &str = "1a5e00d6bbffc0ae4f38879486db5dc4d8d13b28439bd9608e2bee01b5602d37";
const ENTROPY: &str = "d17d385d8437f34776b3e28a839fd5155bd1bc350c684e415601e701b6b48203";

/// The presignature values of a presign file, lowercased: (big_r, k, sigma).
fn presig_values(file: &Path) -> (String, String, String) {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let p = &v["presignature"];
    let get = |k: &str| p[k].as_str().unwrap().to_lowercase();
    (get("big_r"), get("k"), get("sigma"))
}

/// The leader's (big_r, s, recovery_id) of an ECDSA sign step.
fn ecdsa_signature(v: &Value, leader: u32) -> (String, String, u64) {
    for (id, d) in v["done"].as_object().unwrap() {
        let is_leader = id == &leader.to_string();
        assert_eq!(
            d["signature"].is_object(),
            is_leader,
            "signature at {id}: {d}"
        );
    }
    let s = &v["done"][leader.to_string()]["signature"];
    (
        s["big_r"].as_str().unwrap().to_string(),
        s["s"].as_str().unwrap().to_string(),
        s["recovery_id"].as_u64().unwrap(),
    )
}

/// near's verifier (`ts-oracle verify-ecdsa`, which also demands low s and checks the recovery
/// id), and k256 on the derived key with recovery.
fn assert_ecdsa_valid(pk: &str, sig: &(String, String, u64)) {
    let (big_r, s, v) = sig;
    let out = Command::new(oracles().join("ts-oracle"))
        .args([
            "verify-ecdsa",
            "--public-key",
            pk,
            "--tweak",
            TWEAK,
            "--msg-hash",
            MSG_HASH,
        ])
        .args(["--big-r", big_r, "--s", s, "--recovery-id", &v.to_string()])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    let done: Value =
        serde_json::from_str(line.trim().strip_prefix("DONE ").unwrap_or("{}")).unwrap();
    assert_eq!(done["valid"], true, "ts-oracle verify-ecdsa: {line}");
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    use k256::elliptic_curve::PrimeField;
    let master = Secp256k1::point_from_bytes(&{
        let xy = bs58::decode(pk.strip_prefix("secp256k1:").unwrap())
            .into_vec()
            .unwrap();
        let p = k256::PublicKey::from_sec1_bytes(&[&[4u8][..], &xy].concat()).unwrap();
        Secp256k1::point_to_bytes(&p.to_projective()).unwrap()
    })
    .unwrap();
    let tweak = k256::Scalar::from_repr(<[u8; 32]>::try_from(hex(TWEAK)).unwrap().into()).unwrap();
    let derived = tdsigner_tss::near_compat::ecdsa::derive_public_key(&master, &tweak);
    let vk = k256::ecdsa::VerifyingKey::from_affine(derived.to_affine()).unwrap();
    let r_point = Secp256k1::point_from_bytes(&hex(big_r))
        .unwrap()
        .to_affine();
    let r = tdsigner_tss::near_compat::ecdsa::x_coordinate(&r_point);
    let s_bytes: [u8; 32] = hex(s).try_into().unwrap();
    let sig = k256::ecdsa::Signature::from_scalars(r, s_bytes).unwrap();
    let hash = hex(MSG_HASH);
    vk.verify_prehash(&hash, &sig).expect("k256 verify_prehash");
    let id = k256::ecdsa::RecoveryId::from_byte(*v as u8).unwrap();
    let recovered = k256::ecdsa::VerifyingKey::recover_from_prehash(&hash, &sig, id).unwrap();
    assert_eq!(recovered, vk, "recovery id must recover the derived key");
}

/// CaitSith after a mixed keygen (n = 4, t = 3): near generates triples on {0, 1, 2} (count 4 =
/// two pairs, to keep the test short; the node uses 64), then presign and sign in mixed
/// clusters. Presign and sign take no randomness, so each mixed output must equal the all-near
/// output for the same inputs, byte for byte; every signature is verified by near and k256.
#[test]
fn caitsith_presign_and_sign_mixed_with_near() {
    let dir = workdir("caitsith");
    let keygen = "keygen --curve secp256k1 --participants 0,1,2,3 --me {id} --threshold 3 --seed 60{id} --out s{id}.json";
    let pk = common_key(&route(&dir, &[0, 3], keygen, &[1, 2], keygen));
    let triples = "triples --participants 0,1,2 --me {id} --threshold 3 --count 4 --seed 61{id} --out t{id}.json";
    route(&dir, &[0, 1, 2], triples, &[], "");

    for pair in [0u32, 1] {
        let presign = |p: &str| {
            format!("presign --triples t{{id}}.json --pair {pair} --share s{{id}}.json --out {p}{pair}-{{id}}.json")
        };
        route(&dir, &[0, 1, 2], &presign("near"), &[], "");
        let (near_ids, our_ids): (&[u32], &[u32]) = if pair == 0 {
            (&[0], &[1, 2])
        } else {
            (&[1, 2], &[0])
        };
        let v = route(
            &dir,
            near_ids,
            &presign("mixed"),
            our_ids,
            &presign("mixed"),
        );
        let big_rs: Vec<&str> = v["done"]
            .as_object()
            .unwrap()
            .values()
            .map(|d| d["big_r"].as_str().unwrap())
            .collect();
        assert!(
            big_rs.windows(2).all(|w| w[0] == w[1]),
            "big_r differs: {big_rs:?}"
        );
        for id in 0..3 {
            assert_eq!(
                presig_values(&dir.join(format!("mixed{pair}-{id}.json"))),
                presig_values(&dir.join(format!("near{pair}-{id}.json"))),
                "pair {pair} participant {id}: mixed presignature differs from near's"
            );
        }
    }

    let sign = |presig: &str, leader: u32, hash: &str| {
        format!("sign --presig {presig}-{{id}}.json --share s{{id}}.json --leader {leader} --tweak {TWEAK} --msg-hash {hash} --entropy {ENTROPY}")
    };
    // (presignature, leader, near's signers, ours)
    type Case<'a> = (&'a str, u32, &'a [u32], &'a [u32]);
    let cases: [Case; 3] = [
        ("mixed0", 0, &[0], &[1, 2]),
        ("mixed1", 1, &[0, 2], &[1]),
        ("near0", 2, &[1], &[0, 2]),
    ];
    for (presig, leader, near_ids, our_ids) in cases {
        let args = sign(presig, leader, MSG_HASH);
        let mixed = ecdsa_signature(&route(&dir, near_ids, &args, our_ids, &args), leader);
        let near = ecdsa_signature(&route(&dir, &[0, 1, 2], &args, &[], ""), leader);
        assert_eq!(
            mixed, near,
            "{presig} leader {leader}: mixed signature differs from near's"
        );
        assert_ecdsa_valid(&pk, &mixed);
    }
    // A near follower signing another hash: our leader's final check refuses the signature.
    let other = "00".repeat(31) + "01";
    let (good, bad) = (sign("near1", 0, MSG_HASH), sign("near1", 0, &other));
    let v = route_split_expecting(
        &dir,
        &[(0, &good, false), (1, &good, false), (2, &bad, true)],
        false,
    );
    let e = v["errors"]["0"].as_str().unwrap_or("");
    assert!(e.contains("signature failed to verify"), "our leader: {e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Robust ECDSA (DamgardEtAl) after a mixed keygen n = 5, t = 3: presign with all 5 = 2t − 1
/// (max_malicious 2) in two mixed splits, sign with a near leader and with a tdsigner leader.
/// Robust sign is deterministic given the presignature, so each mixed signature must equal
/// near's for the same inputs; every signature is verified by near and k256. A run with 4
/// participants is refused by both implementations alike.
#[test]
fn robust_presign_and_sign_mixed_with_near() {
    let dir = workdir("robust");
    let all = [0u32, 1, 2, 3, 4];
    let keygen = "keygen --curve secp256k1 --participants 0,1,2,3,4 --me {id} --threshold 3 --seed 70{id} --out r{id}.json";
    let pk = common_key(&route(&dir, &[1, 3], keygen, &[0, 2, 4], keygen));
    // (presignature name, near's participants, ours, sign leader)
    type Case<'a> = (&'a str, &'a [u32], &'a [u32], u32);
    let cases: [Case; 2] = [("a", &[0, 2], &[1, 3, 4], 0), ("b", &[1, 3, 4], &[0, 2], 2)];
    for (name, near_ids, our_ids, leader) in cases {
        let presign = format!("robust-presign --participants 0,1,2,3,4 --me {{id}} --threshold 3 --share r{{id}}.json --seed 71{{id}} --out rp{name}{{id}}.json");
        let v = route(&dir, near_ids, &presign, our_ids, &presign);
        let big_rs: Vec<&str> = v["done"]
            .as_object()
            .unwrap()
            .values()
            .map(|d| d["big_r"].as_str().unwrap())
            .collect();
        assert!(
            big_rs.len() == 5 && big_rs.windows(2).all(|w| w[0] == w[1]),
            "big_r differs: {big_rs:?}"
        );
        let sign = format!("robust-sign --presig rp{name}{{id}}.json --share r{{id}}.json --leader {leader} --tweak {TWEAK} --msg-hash {MSG_HASH} --entropy {ENTROPY}");
        // Sign with the other split, so every presignature share is used by both sides.
        let mixed = ecdsa_signature(&route(&dir, our_ids, &sign, near_ids, &sign), leader);
        let near = ecdsa_signature(&route(&dir, &all, &sign, &[], ""), leader);
        assert_eq!(
            mixed, near,
            "robust {name}: mixed signature differs from near's"
        );
        assert_ecdsa_valid(&pk, &mixed);
    }
    let four = "robust-presign --participants 0,1,2,3 --me {id} --threshold 3 --share r{id}.json --seed 72{id}";
    let v = route_expecting(&dir, &[0, 1], four, &[2, 3], four, false);
    for id in ["0", "1", "2", "3"] {
        let e = v["errors"][id].as_str().unwrap_or("");
        assert!(e.contains("2*max_malicious+1"), "participant {id}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One line of `ts-oracle <args>` as JSON (its DONE summary).
fn oracle_local(args: &[&str]) -> Value {
    let out = Command::new(oracles().join("ts-oracle"))
        .args(args)
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    serde_json::from_str(line.trim().strip_prefix("DONE ").unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("ts-oracle {args:?}: {e}: {line}"))
}

/// CKD and CKD-PV after a mixed BLS12-381 keygen (n = 4, t = 3), near and tdsigner leaders:
/// every output must unmask (near's `ckd-unmask`, which pairing-checks it against the master
/// key) to the same secret as an all-near run.
#[test]
fn ckd_mixed_with_near() {
    let dir = workdir("ckd");
    let keygen = "keygen --curve bls12381 --participants 0,1,2,3 --me {id} --threshold 3 --seed 50{id} --out b{id}.json";
    let pk = common_key(&route(&dir, &[1, 2], keygen, &[0, 3], keygen));
    let app_id = "3ae1a1e588a7c12ce20f341b0617feaf12d9d2f893743b72c95cb1d1c3564266";
    let app = oracle_local(&["ckd-app-keypair", "--seed", "5100"]);
    let (secret, apk, apk2) = (
        app["app_secret"].as_str().unwrap(),
        app["app_public_key"].as_str().unwrap(),
        app["app_public_key_g2"].as_str().unwrap(),
    );
    let unmask = |v: &Value, leader: u32| {
        let d = &v["done"][leader.to_string()];
        let u = oracle_local(&[
            "ckd-unmask",
            "--public-key",
            &pk,
            "--app-id",
            app_id,
            "--app-secret",
            secret,
            "--big-y",
            d["big_y"].as_str().unwrap(),
            "--big-c",
            d["big_c"].as_str().unwrap(),
        ]);
        assert_eq!(u["valid"], true, "ckd-unmask: {u}");
        u["secret"].as_str().unwrap().to_string()
    };
    let base = format!("ckd --participants 1,2,3 --me {{id}} --leader 1 --share b{{id}}.json --app-id {app_id} --app-public-key {apk} --seed 52{{id}}");
    let expected = unmask(&route(&dir, &[1, 2, 3], &base, &[], ""), 1);
    // (signers, leader, near's, ours, PV)
    type Case<'a> = (&'a str, u32, &'a [u32], &'a [u32], bool);
    let cases: [Case; 4] = [
        ("1,2,3", 1, &[1], &[2, 3], false),
        ("0,1,3", 3, &[0, 1], &[3], false),
        ("0,2,3", 0, &[2, 3], &[0], true),
        ("0,1,2", 2, &[0], &[1, 2], true),
    ];
    for (signers, leader, near_ids, our_ids, pv) in cases {
        let mut args = format!("ckd --participants {signers} --me {{id}} --leader {leader} --share b{{id}}.json --app-id {app_id} --app-public-key {apk} --seed 53{{id}}");
        if pv {
            args += &format!(" --app-public-key-g2 {apk2}");
        }
        let v = route(&dir, near_ids, &args, our_ids, &args);
        assert_eq!(
            unmask(&v, leader),
            expected,
            "signers {signers}, leader {leader}, pv {pv}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
