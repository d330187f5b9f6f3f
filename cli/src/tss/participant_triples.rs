//! `tdsigner tss participant triples …`: one participant of near's CaitSith triple generation
//! (`tdsigner_tss::near_compat::triples`), with the ts-oracle's arguments, DONE summary and
//! triples file (`ts-oracle/triples/v1`: pairs (2i, 2i+1) of `(TripleShare, TriplePub)` with
//! k256's uppercase-hex scalars and compressed points), so near's `presign` reads our output.

use std::io::Write;
use std::time::Instant;

use serde_json::{json, Value};
use tdsigner_tss::near_compat::triples::{TripleGeneration, TriplePub, TripleShare};
use tdsigner_tss::near_compat::{Curve, Secp256k1};

use super::participant::{drive, rng_from_seed};

#[derive(clap::Args)]
pub struct TriplesArgs {
    #[arg(long, value_delimiter = ',')]
    participants: Vec<u32>,
    #[arg(long)]
    me: u32,
    #[arg(long)]
    threshold: usize,
    /// Triples in the batch: 2, 4, 8, 16, 32 or 64 (near's node: 64).
    #[arg(long, default_value_t = 64)]
    count: usize,
    /// Write the triples file (ts-oracle triples/v1, mode 0600) here.
    #[arg(long)]
    out: Option<String>,
    #[arg(long)]
    seed: Option<String>,
}

fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn triple_json(share: &TripleShare, public: &TriplePub) -> Value {
    let s = |x: &k256::Scalar| upper_hex(&Secp256k1::scalar_to_bytes(x));
    let p =
        |x: &k256::ProjectivePoint| upper_hex(&Secp256k1::point_to_bytes(x).unwrap_or_default());
    json!([
        {"a": s(&share.a), "b": s(&share.b), "c": s(&share.c)},
        {"big_a": p(&public.big_a), "big_b": p(&public.big_b), "big_c": p(&public.big_c),
         "participants": public.participants, "threshold": public.threshold},
    ])
}

fn write_triples(
    path: &str,
    a: &TriplesArgs,
    triples: &[(TripleShare, TriplePub)],
) -> Result<(), String> {
    let pairs: Vec<Value> = triples
        .chunks_exact(2)
        .map(|p| json!([triple_json(&p[0].0, &p[0].1), triple_json(&p[1].0, &p[1].1)]))
        .collect();
    let mut sorted = a.participants.clone();
    sorted.sort_unstable();
    let file = json!({
        "format": "ts-oracle/triples/v1", "participants": sorted, "me": a.me,
        "threshold": a.threshold, "count": a.count, "pairs": pairs, "implementation": "tdsigner",
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

pub fn run_triples(a: TriplesArgs) -> Result<(), String> {
    if ![2, 4, 8, 16, 32, 64].contains(&a.count) {
        return Err("--count: 2, 4, 8, 16, 32 or 64".into());
    }
    let rng = rng_from_seed(&a.seed)?;
    let started = Instant::now();
    let proto = TripleGeneration::new(&a.participants, a.me, a.threshold, a.count, rng)
        .map_err(|e| format!("triples init: {e}"))?;
    let (triples, stats) = drive(proto, &a.participants, a.me)?;
    if let Some(path) = &a.out {
        write_triples(path, &a, &triples)?;
    }
    let mut sorted = a.participants.clone();
    sorted.sort_unstable();
    let done = json!({
        "protocol": "triples", "implementation": "tdsigner", "me": a.me, "participants": sorted,
        "threshold": a.threshold, "count": a.count, "pairs": a.count / 2, "out": a.out,
        "stats": {
            "send_many": stats.send_many, "send_private": stats.send_private,
            "bytes_out": stats.bytes_out, "received": stats.received, "bytes_in": stats.bytes_in,
            "wall_ms": started.elapsed().as_millis() as u64,
        },
    });
    println!("DONE {done}");
    Ok(())
}
