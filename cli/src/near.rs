//! `tdsigner near …`: light-client checks for operators debugging an endpoint
//! and for verifiers. Inputs are RPC-shaped JSON (a bare result, a JSON-RPC
//! envelope, or the fixtures' `{last_block_hash, body}`). Exit codes: 0
//! accepted, 1 rejected (one-line reason on stderr), 2 unreadable or malformed.
//! (`derive-key` is provided by the threshold-ECDSA group and wired in by main.)

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tdsigner_near::hash::CryptoHash;
use tdsigner_near::light_client::{EpochProducers, LightClientState};
use tdsigner_near::view::{self, AnyProof};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Verify a chain of light-client blocks: FILE 1 is the trusted starting
    /// block, each next FILE a `next_light_client_block` result. Prints the
    /// final head height and hash.
    VerifyChain {
        #[arg(required = true, num_args = 2..)]
        files: Vec<PathBuf>,
    },
    /// Verify one light-client block against a trusted head and the block
    /// producers of NEW's epoch.
    VerifyBlock {
        /// A light-client block or block header lite view (prev_block_hash, inner_rest_hash, inner_lite).
        #[arg(long)]
        head: PathBuf,
        /// JSON array of validator stake views: the producers of NEW's epoch.
        #[arg(long)]
        bps: PathBuf,
        /// The `next_light_client_block` result to verify.
        new: PathBuf,
    },
    /// Verify a `light_client_proof` (transaction/receipt) or
    /// `EXPERIMENTAL_light_client_block_proof` result against a head.
    VerifyProof {
        /// The verified head (light-client block or header lite view).
        #[arg(long, conflicts_with = "block_merkle_root", required_unless_present = "block_merkle_root")]
        head: Option<PathBuf>,
        /// The head's block_merkle_root, base58.
        #[arg(long)]
        block_merkle_root: Option<String>,
        proof: PathBuf,
    },
    /// Check a `view_state` answer (`query` result with `values` and `proof`, asked with
    /// `include_proof: true`) against a shard state root. Prints the proven key/values as JSON;
    /// exit 0 if every value is proven (and, with --prefix-base64, the key list complete).
    VerifyState {
        /// The shard's state root, base58 or 64 hex digits.
        #[arg(long)]
        state_root: String,
        /// The contract account whose storage was viewed.
        #[arg(long)]
        account_id: String,
        /// The `prefix_base64` that was asked for: also prove no other key lies under it.
        #[arg(long)]
        prefix_base64: Option<String>,
        view_state: PathBuf,
    },
    /// Check a `block` answer: the merkle root of the chunks' `prev_state_root`s (shard order)
    /// must equal `header.prev_state_root`, and, when the header carries every field, the
    /// header must re-hash to `header.hash`.
    VerifyChunkRoots { block: PathBuf },
    /// Derive a NEAR chain-signatures child key: root + tweak(predecessor, path)·G.
    DeriveKey(crate::tss::DeriveKeyArgs),
}

pub(crate) enum Outcome {
    Rejected(String),
    Malformed(String),
}

fn read(path: &Path) -> Result<Vec<u8>, Outcome> {
    read_max(path, view::MAX_JSON_BYTES)
}

pub(crate) fn read_max(path: &Path, max: usize) -> Result<Vec<u8>, Outcome> {
    let meta = std::fs::metadata(path).map_err(|e| Outcome::Malformed(format!("{}: {e}", path.display())))?;
    if meta.len() > max as u64 {
        return Err(Outcome::Malformed(format!("{}: larger than {max} bytes", path.display())));
    }
    std::fs::read(path).map_err(|e| Outcome::Malformed(format!("{}: {e}", path.display())))
}

fn malformed<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> Outcome + '_ {
    move |e| Outcome::Malformed(format!("{}: {e}", path.display()))
}

fn verify_chain(files: &[PathBuf]) -> Result<String, Outcome> {
    let (first, rest) = files.split_first().ok_or_else(|| Outcome::Malformed("no files".into()))?;
    let trusted = view::parse_light_client_block(&read(first)?).map_err(malformed(first))?;
    let mut state = LightClientState::from_trusted_block(&trusted).map_err(|e| Outcome::Rejected(format!("{}: {e}", first.display())))?;
    for f in rest {
        let block = view::parse_light_client_block(&read(f)?).map_err(malformed(f))?;
        state.advance(&block).map_err(|e| Outcome::Rejected(format!("{}: {e}", f.display())))?;
    }
    Ok(format!("height {} hash {}", state.head_height(), state.head_hash()))
}

fn verify_block(head: &Path, bps: &Path, new: &Path) -> Result<String, Outcome> {
    let head_lite = view::parse_header_lite(&read(head)?).map_err(malformed(head))?;
    let producers = view::parse_producers(&read(bps)?).map_err(malformed(bps))?;
    let block = view::parse_light_client_block(&read(new)?).map_err(malformed(new))?;
    // The producers are for NEW's epoch, which must be the head's epoch or the next.
    let epoch = EpochProducers { epoch_id: block.inner_lite.epoch_id, producers };
    let state = LightClientState::from_trusted_header(head_lite, epoch).map_err(|e| Outcome::Rejected(e.to_string()))?;
    let (tally, _) = state.verify(&block).map_err(|e| Outcome::Rejected(e.to_string()))?;
    Ok(format!(
        "height {} hash {} approved {}/{} stake, {} signatures",
        block.inner_lite.height,
        block.hash(),
        tally.approved,
        tally.total,
        tally.signatures
    ))
}

fn verify_proof(head: Option<&Path>, root: Option<&str>, proof: &Path) -> Result<String, Outcome> {
    let root = match (head, root) {
        (Some(h), _) => view::parse_header_lite(&read(h)?).map_err(malformed(h))?.inner_lite.block_merkle_root,
        (None, Some(r)) => CryptoHash::from_base58(r).map_err(|e| Outcome::Malformed(format!("--block-merkle-root: {e}")))?,
        (None, None) => return Err(Outcome::Malformed("need --head or --block-merkle-root".into())),
    };
    match view::parse_any_proof(&read(proof)?).map_err(malformed(proof))? {
        AnyProof::Execution(p) => {
            let proven = p.verify(&root).map_err(|e| Outcome::Rejected(e.to_string()))?;
            Ok(format!(
                "outcome {} executor {} in block {} (height {})",
                proven.id, proven.outcome.executor_id, proven.block_hash, proven.block.inner_lite.height
            ))
        }
        AnyProof::Block(p) => {
            let h = p.verify(&root, None).map_err(|e| Outcome::Rejected(e.to_string()))?;
            Ok(format!("block {} (height {})", h, p.block_header_lite.inner_lite.height))
        }
    }
}

pub fn run(cmd: Command) -> ExitCode {
    let result = match &cmd {
        Command::DeriveKey(_) => {
            let Command::DeriveKey(args) = cmd else { return ExitCode::from(2) };
            return crate::tss::derive_key(args);
        }
        Command::VerifyChain { files } => verify_chain(files),
        Command::VerifyBlock { head, bps, new } => verify_block(head, bps, new),
        Command::VerifyProof { head, block_merkle_root, proof } => verify_proof(head.as_deref(), block_merkle_root.as_deref(), proof),
        Command::VerifyState { state_root, account_id, prefix_base64, view_state } => {
            crate::near_state::verify_state(state_root, account_id, prefix_base64.as_deref(), view_state)
        }
        Command::VerifyChunkRoots { block } => crate::near_state::verify_chunk_roots(block),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(Outcome::Rejected(reason)) => {
            eprintln!("rejected: {reason}");
            ExitCode::from(1)
        }
        Err(Outcome::Malformed(reason)) => {
            eprintln!("malformed: {reason}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        if let Ok(p) = std::env::var("TDSIGNER_FIXTURES") {
            return PathBuf::from(p).join("near-light-client");
        }
        let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap_or_default();
        loop {
            let c = dir.join("../shared/fixtures/near-light-client");
            if c.is_dir() {
                return c;
            }
            assert!(dir.pop(), "../shared/fixtures not found; set TDSIGNER_FIXTURES");
        }
    }

    fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("tdsigner-near-cli-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn chain_block_and_proof_outcomes() {
        let f = fixtures();
        let chain = verify_chain(&[f.join("test_0.json"), f.join("test_1.json"), f.join("test_2.json")]).ok().unwrap();
        assert_eq!(chain, "height 154741176 hash ByF6ngJ7WB9ZyYpDH3BzoY3PAbCbcc3ejKRPC2zRXUrQ");
        assert!(matches!(verify_chain(&[f.join("test_0.json"), f.join("test_2.json")]), Err(Outcome::Rejected(_))));
        assert!(matches!(verify_chain(&[f.join("test_0.json"), f.join("missing.json")]), Err(Outcome::Malformed(_))));

        let head: serde_json::Value = serde_json::from_slice(&std::fs::read(f.join("test_0.json")).unwrap()).unwrap();
        let bps = tmp("bps.json", &serde_json::to_vec(&head["body"]["next_bps"]).unwrap());
        assert!(verify_block(&f.join("test_0.json"), &bps, &f.join("test_1.json")).is_ok());
        let mut short = head["body"]["next_bps"].clone();
        short.as_array_mut().unwrap().reverse();
        let short = tmp("short.json", &serde_json::to_vec(&short).unwrap());
        assert!(matches!(verify_block(&f.join("test_0.json"), &short, &f.join("test_1.json")), Err(Outcome::Rejected(_))));

        let root = "WWrLWbWHwSmjtTn5oBZPYgRCuCYn6fkYVa4yhPWNK4L";
        assert!(verify_proof(None, Some(root), &f.join("new.json")).is_ok());
        assert!(matches!(verify_proof(Some(&f.join("test_2.json")), None, &f.join("new.json")), Err(Outcome::Rejected(_))));
        assert!(matches!(verify_proof(None, Some("0"), &f.join("new.json")), Err(Outcome::Malformed(_))));
        let garbage = tmp("garbage.json", b"{\"outcome_proof\": 1}");
        assert!(matches!(verify_proof(None, Some(root), &garbage), Err(Outcome::Malformed(_))));
    }
}
