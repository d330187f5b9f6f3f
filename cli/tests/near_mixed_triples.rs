//! CaitSith triple generation in mixed clusters with near's own implementation (`ts-oracle`,
//! near/mpc's threshold-signatures crate) and `tdsigner tss participant triples`, routed by
//! `../shared/oracles/router.py` (every run bounded; the router's process group is killed on
//! every exit path). Batches are small (count 2) to keep CI in seconds; the node uses 64.
//!
//! Checks do not trust either side's report: every participant's triples file must hold the
//! same public parts; interpolating the shares (the run has exactly t participants) must give
//! a·b = c with A = a·G, B = b·G, C = c·G; and triples made by tdsigner alone must be consumed
//! by near's own presign and sign, whose signature near's verifier accepts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k256::elliptic_curve::ff::PrimeField;
use k256::elliptic_curve::group::GroupEncoding;
use k256::{ProjectivePoint, Scalar};
use serde_json::Value;

const ROUTER_TIMEOUT: Duration = Duration::from_secs(90);
const TW: &str = "e4c9cc34fcc5f69fde83609d2f7739b541faa56c74cee872b220bdc3a85d1d4d";
const MH: &str = "1a5e00d6bbffc0ae4f38879486db5dc4d8d13b28439bd9608e2bee01b5602d37";
const EN: &str = "d17d385d8437f34776b3e28a839fd5155bd1bc350c684e415601e701b6b48203";

fn oracles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/oracles")
}

/// A router process in its own process group; the whole group is killed on drop.
struct Router(Child);

impl Drop for Router {
    fn drop(&mut self) {
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
    let d = std::env::temp_dir().join(format!(
        "tdsigner-near-triples-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One router step: participant `id` runs near's oracle when `near`, else tdsigner, with
/// `args` (`{id}` replaced). Returns the router's JSON; panics unless it succeeded.
fn route(dir: &Path, parts: &[(u32, bool)], args: &str) -> Value {
    route_with(dir, parts, |_| args.to_string(), true)
}

/// As [`route`] with per-participant arguments, demanding success or failure (`expect_ok`).
fn route_with(
    dir: &Path,
    parts: &[(u32, bool)],
    args: impl Fn(u32) -> String,
    expect_ok: bool,
) -> Value {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let bin = env!("CARGO_BIN_EXE_tdsigner");
    let oracle = oracles().join("ts-oracle");
    let mut cmd = Command::new("python3");
    cmd.arg(oracles().join("router.py")).args([
        "--quiet",
        "--timeout",
        &ROUTER_TIMEOUT.as_secs().to_string(),
    ]);
    for (id, near) in parts {
        let a = args(*id).replace("{id}", &id.to_string());
        let line = if *near {
            format!("{} {a}", oracle.display())
        } else {
            format!("{bin} tss participant {a}")
        };
        cmd.arg("--run").arg(id.to_string()).arg(line);
    }
    cmd.current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let label: Vec<String> = parts
        .iter()
        .map(|(id, near)| format!("{id}:{}", if *near { "near" } else { "tdsigner" }))
        .collect();
    let label = format!(
        "{} {}",
        label.join(","),
        args(0).split(' ').next().unwrap_or("")
    );
    let started = Instant::now();
    let mut router = Router(cmd.spawn().expect("python3 router.py"));
    let mut out_pipe = router.0.stdout.take().unwrap();
    let mut err_pipe = router.0.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    while router.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < ROUTER_TIMEOUT + Duration::from_secs(10),
            "router timed out: {label}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("router output not JSON ({e}): {stdout}\n{stderr}"));
    assert_eq!(v["ok"], expect_ok, "step ({label}): {v:#}\n{stderr}");
    eprintln!(
        "step ok={expect_ok} in {:.3}s: {label}",
        started.elapsed().as_secs_f64()
    );
    v
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn scalar(s: &str) -> Scalar {
    let b: [u8; 32] = hex(s).try_into().unwrap();
    Option::from(Scalar::from_repr(b.into())).expect("canonical scalar")
}

fn point(s: &str) -> ProjectivePoint {
    let b = hex(s);
    let repr = k256::CompressedPoint::clone_from_slice(&b);
    Option::from(ProjectivePoint::from_bytes(&repr)).expect("valid point")
}

/// Same public parts everywhere; interpolated shares satisfy c = a·b and match A, B, C.
fn assert_triples_consistent(dir: &Path, ids: &[u32]) -> usize {
    let files: Vec<Value> = ids
        .iter()
        .map(|i| {
            serde_json::from_str(
                &std::fs::read_to_string(dir.join(format!("triples{i}.json"))).unwrap(),
            )
            .unwrap()
        })
        .collect();
    let pubs: Vec<Vec<Value>> = files
        .iter()
        .map(|f| {
            f["pairs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| [p[0][1].clone(), p[1][1].clone()])
                .collect()
        })
        .collect();
    assert!(
        pubs.windows(2).all(|w| w[0] == w[1]),
        "TriplePub differs between participants"
    );
    let lagrange = |i: u32| {
        let xi = Scalar::from(u64::from(i) + 1);
        ids.iter().filter(|j| **j != i).fold(Scalar::ONE, |acc, j| {
            let xj = Scalar::from(u64::from(*j) + 1);
            acc * xj * (xj - xi).invert().unwrap()
        })
    };
    for (k, public) in pubs[0].iter().enumerate() {
        let (mut a, mut b, mut c) = (Scalar::ZERO, Scalar::ZERO, Scalar::ZERO);
        for (f, i) in files.iter().zip(ids) {
            let share = &f["pairs"][k / 2][k % 2][0];
            let l = lagrange(*i);
            a += l * scalar(share["a"].as_str().unwrap());
            b += l * scalar(share["b"].as_str().unwrap());
            c += l * scalar(share["c"].as_str().unwrap());
        }
        assert_eq!(a * b, c, "triple {k}: c != a·b");
        assert_eq!(
            ProjectivePoint::GENERATOR * a,
            point(public["big_a"].as_str().unwrap())
        );
        assert_eq!(
            ProjectivePoint::GENERATOR * b,
            point(public["big_b"].as_str().unwrap())
        );
        assert_eq!(
            ProjectivePoint::GENERATOR * c,
            point(public["big_c"].as_str().unwrap())
        );
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        assert_eq!(public["participants"], serde_json::json!(sorted));
    }
    pubs[0].len()
}

fn triples_args(ids: &[u32], t: usize) -> String {
    let list: Vec<String> = ids.iter().map(u32::to_string).collect();
    format!(
        "triples --participants {} --me {{id}} --threshold {t} --count 2 --seed 77{{id}} --out triples{{id}}.json",
        list.join(",")
    )
}

#[test]
fn triples_mixed_with_near_both_majorities() {
    let splits: [&[(u32, bool)]; 3] = [
        &[(0, true), (1, false)],
        &[(0, true), (1, false), (2, false)],
        &[(0, true), (1, true), (2, false)],
    ];
    for (n, parts) in splits.iter().enumerate() {
        let dir = workdir(&format!("mixed{n}"));
        let ids: Vec<u32> = parts.iter().map(|p| p.0).collect();
        route(&dir, parts, &triples_args(&ids, ids.len()));
        assert_eq!(assert_triples_consistent(&dir, &ids), 2);
    }
}

/// Triples made by tdsigner alone, then near's keygen, presign (reading our triples file),
/// sign, and near's verifier on the signature.
#[test]
fn near_presigns_and_signs_with_tdsigner_triples() {
    let dir = workdir("feed");
    let ours: Vec<(u32, bool)> = (0..3).map(|i| (i, false)).collect();
    let near: Vec<(u32, bool)> = (0..3).map(|i| (i, true)).collect();
    route(&dir, &ours, &triples_args(&[0, 1, 2], 3));
    assert_triples_consistent(&dir, &[0, 1, 2]);
    let kg = route(&dir, &near, "keygen --curve secp256k1 --participants 0,1,2 --me {id} --threshold 3 --seed 91{id} --out share{id}.json");
    let pk = kg["done"]["0"]["public_key"].as_str().unwrap().to_string();
    route(
        &dir,
        &near,
        "presign --triples triples{id}.json --pair 0 --share share{id}.json --out presig{id}.json",
    );
    let sign = format!(
        "sign --presig presig{{id}}.json --share share{{id}}.json --leader 2 --tweak {TW} --msg-hash {MH} --entropy {EN}"
    );
    let v = route(&dir, &near, &sign);
    let sig = &v["done"]["2"]["signature"];
    let out = Command::new(oracles().join("ts-oracle"))
        .args([
            "verify-ecdsa",
            "--public-key",
            &pk,
            "--tweak",
            TW,
            "--msg-hash",
            MH,
        ])
        .args([
            "--big-r",
            sig["big_r"].as_str().unwrap(),
            "--s",
            sig["s"].as_str().unwrap(),
        ])
        .args(["--recovery-id", &sig["recovery_id"].to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"valid\":true"), "near's verifier: {text}");
}

#[test]
fn wrong_threshold_at_one_participant_fails_the_run() {
    // tdsigner at 1 uses t=3 while near at 0 and 2 use t=2: transcripts and polynomial
    // degrees differ, so the run must fail (near refuses our commitments or proofs).
    let dir = workdir("wrong-t");
    let parts = [(0, true), (1, false), (2, true)];
    let args = |id: u32| triples_args(&[0, 1, 2], if id == 1 { 3 } else { 2 });
    let v = route_with(&dir, &parts, args, false);
    assert_eq!(v["ok"], false);
}
