//! nearcore's JSON views of the simulator's data: `BlockView`,
//! `ChunkView`, `LightClientBlockView`, `LightClientBlockLiteView`,
//! `RpcLightClientExecutionProofResponse`, `FinalExecutionOutcomeView`.
//! Hashes are base58, balances decimal strings, `timestamp` a number and
//! `timestamp_nanosec` a string, as nearcore prints them.

use serde_json::{json, Value};

use crate::chain::{Block, Chain, ChunkHeader, ExecutionProof, FinalStatus, LightClientBlock, OutcomeRecord, Producer, TxState};
use crate::hash::Hash;
use crate::merkle::PathItem;
use crate::runtime::action_json;
use crate::tx::SignedTransaction;

pub fn path_json(path: &[PathItem]) -> Value {
    Value::Array(path.iter().map(|p| json!({"hash": p.hash.to_base58(), "direction": p.direction.as_str()})).collect())
}

pub fn producers_json(ps: &[Producer]) -> Value {
    Value::Array(
        ps.iter()
            .map(|p| {
                json!({
                    "validator_stake_struct_version": "V1",
                    "account_id": p.account_id,
                    "public_key": p.public_key.to_text(),
                    "stake": p.stake.to_string(),
                })
            })
            .collect(),
    )
}

pub fn inner_lite_json(b: &Block) -> Value {
    let l = &b.lite;
    json!({
        "height": l.height,
        "epoch_id": l.epoch_id.to_base58(),
        "next_epoch_id": l.next_epoch_id.to_base58(),
        "prev_state_root": l.prev_state_root.to_base58(),
        "outcome_root": l.outcome_root.to_base58(),
        "timestamp": l.timestamp,
        "timestamp_nanosec": l.timestamp.to_string(),
        "next_bp_hash": l.next_bp_hash.to_base58(),
        "block_merkle_root": l.block_merkle_root.to_base58(),
    })
}

/// `LightClientBlockLiteView`.
pub fn header_lite_json(b: &Block) -> Value {
    json!({
        "prev_block_hash": b.prev_hash.to_base58(),
        "inner_rest_hash": b.inner_rest_hash.to_base58(),
        "inner_lite": inner_lite_json(b),
    })
}

/// `LightClientBlockView`.
pub fn light_client_block_json(chain: &Chain, lc: &LightClientBlock) -> Value {
    let Some(b) = chain.block(lc.block) else { return Value::Null };
    json!({
        "prev_block_hash": b.prev_hash.to_base58(),
        "next_block_inner_hash": lc.next_block_inner_hash.to_base58(),
        "inner_lite": inner_lite_json(b),
        "inner_rest_hash": b.inner_rest_hash.to_base58(),
        "next_bps": producers_json(&lc.next_bps),
        "approvals_after_next": lc.approvals_after_next.iter().map(|a| a.map(|s| s.to_text())).collect::<Vec<_>>(),
    })
}

/// `BlockHeaderView`.
pub fn header_json(chain: &Chain, b: &Block) -> Value {
    let r = &b.rest;
    let layout = chain.cfg.header_layout;
    let mut v = json!({
        "height": b.lite.height,
        "prev_height": r.prev_height,
        "epoch_id": b.lite.epoch_id.to_base58(),
        "next_epoch_id": b.lite.next_epoch_id.to_base58(),
        "hash": b.hash.to_base58(),
        "prev_hash": b.prev_hash.to_base58(),
        "prev_state_root": b.lite.prev_state_root.to_base58(),
        "block_body_hash": r.block_body_hash.to_base58(),
        "chunk_receipts_root": r.prev_chunk_outgoing_receipts_root.to_base58(),
        "chunk_headers_root": r.chunk_headers_root.to_base58(),
        "chunk_tx_root": r.chunk_tx_root.to_base58(),
        "outcome_root": b.lite.outcome_root.to_base58(),
        "chunks_included": r.chunk_mask.iter().filter(|m| **m).count(),
        "challenges_root": Hash::ZERO.to_base58(),
        "timestamp": b.lite.timestamp,
        "timestamp_nanosec": b.lite.timestamp.to_string(),
        "random_value": r.random_value.to_base58(),
        "validator_proposals": [],
        "chunk_mask": r.chunk_mask,
        "gas_price": r.next_gas_price.to_string(),
        "block_ordinal": r.block_ordinal,
        "rent_paid": "0",
        "validator_reward": "0",
        "total_supply": r.total_supply.to_string(),
        "challenges_result": [],
        "last_final_block": r.last_final_block.to_base58(),
        "last_ds_final_block": r.last_ds_final_block.to_base58(),
        "next_bp_hash": b.lite.next_bp_hash.to_base58(),
        "block_merkle_root": b.lite.block_merkle_root.to_base58(),
        "epoch_sync_data_hash": r.epoch_sync_data_hash.map(|h| h.to_base58()),
        "approvals": r.approvals.iter().map(|a| a.map(|s| s.to_text())).collect::<Vec<_>>(),
        "signature": b.signature.to_text(),
        "latest_protocol_version": r.latest_protocol_version,
    });
    if let Some(map) = v.as_object_mut() {
        if layout != crate::chain::HeaderLayout::V4 {
            map.insert("chunk_endorsements".into(), json!(r.chunk_endorsements));
        }
        if layout == crate::chain::HeaderLayout::V6 {
            map.remove("challenges_root");
            map.insert("shard_split".into(), Value::Null);
        }
    }
    v
}

pub fn chunk_header_json(c: &ChunkHeader) -> Value {
    json!({
        "chunk_hash": c.chunk_hash.to_base58(),
        "prev_block_hash": c.prev_block_hash.to_base58(),
        "outcome_root": c.prev_outcome_root.to_base58(),
        "prev_state_root": c.prev_state_root.to_base58(),
        "encoded_merkle_root": c.chunk_hash.to_base58(),
        "encoded_length": 0,
        "height_created": c.height_created,
        "height_included": c.height_included,
        "shard_id": c.shard_id,
        "gas_used": c.gas_used,
        "gas_limit": 1_000_000_000_000_000u64,
        "rent_paid": "0",
        "validator_reward": "0",
        "balance_burnt": (u128::from(c.gas_used) * crate::runtime::GAS_PRICE).to_string(),
        "outgoing_receipts_root": c.outgoing_receipts_root.to_base58(),
        "tx_root": c.tx_root.to_base58(),
        "validator_proposals": [],
        "signature": c.signature.to_text(),
    })
}

/// `BlockView`.
pub fn block_json(chain: &Chain, b: &Block) -> Value {
    json!({
        "author": b.author,
        "header": header_json(chain, b),
        "chunks": b.chunks.iter().map(chunk_header_json).collect::<Vec<_>>(),
    })
}

/// `SignedTransactionView`.
pub fn signed_tx_json(st: &SignedTransaction) -> Value {
    let t = &st.transaction;
    json!({
        "signer_id": t.signer_id,
        "public_key": t.public_key.to_text(),
        "nonce": t.nonce,
        "receiver_id": t.receiver_id,
        "actions": t.actions.iter().map(action_json).collect::<Vec<_>>(),
        "priority_fee": 0,
        "signature": st.signature.to_text(),
        "hash": st.hash.to_base58(),
    })
}

/// `ChunkView`.
pub fn chunk_json(chain: &Chain, chunk_hash: &Hash) -> Option<Value> {
    let body = chain.chunk(chunk_hash)?;
    let author = chain.block_by_height(body.header.height_created).map(|b| b.author.clone());
    Some(json!({
        "author": author,
        "header": chunk_header_json(&body.header),
        "transactions": body.transactions.iter().filter_map(|h| chain.tx(h)).map(|r| signed_tx_json(&r.tx)).collect::<Vec<_>>(),
        "receipts": body.receipts.iter().filter_map(|id| chain.receipt(id)).map(|r| r.to_json()).collect::<Vec<_>>(),
    }))
}

/// `ExecutionOutcomeWithIdView` with the block that applied it.
pub fn outcome_with_id_json(chain: &Chain, rec: &OutcomeRecord) -> Value {
    json!({
        "proof": path_json(&rec.proof),
        "block_hash": chain.block(rec.executed_in).map(|b| b.hash.to_base58()),
        "id": rec.id.to_base58(),
        "outcome": rec.outcome.to_json(),
    })
}

/// `RpcLightClientExecutionProofResponse`.
pub fn execution_proof_json(chain: &Chain, p: &ExecutionProof) -> Value {
    let Some(b) = chain.block(p.block) else { return Value::Null };
    json!({
        "outcome_proof": {
            "proof": path_json(&p.outcome_proof),
            "block_hash": b.hash.to_base58(),
            "id": p.id.to_base58(),
            "outcome": p.outcome.to_json(),
        },
        "outcome_root_proof": path_json(&p.outcome_root_proof),
        "block_header_lite": header_lite_json(b),
        "block_proof": path_json(&p.block_proof),
    })
}

/// `FinalExecutionOutcomeView` plus `final_execution_status`.
pub fn tx_status_json(chain: &Chain, tx_hash: &Hash) -> Option<Value> {
    use base64::Engine;
    let rec = chain.tx(tx_hash)?;
    let TxState::Included { .. } = rec.state else { return None };
    let tx_outcome = chain.outcome(tx_hash)?;
    let receipts: Vec<&OutcomeRecord> = chain.tx_receipt_ids(tx_hash).iter().filter_map(|id| chain.outcome(id)).collect();
    let status = match chain.final_status(tx_hash)? {
        FinalStatus::Started => json!("Started"),
        FinalStatus::SuccessValue(v) => json!({"SuccessValue": base64::engine::general_purpose::STANDARD.encode(v)}),
        FinalStatus::Failure(e) => json!({"Failure": e}),
    };
    let done = status != json!("Started");
    let final_height = chain.final_head().height();
    let all_final = std::iter::once(tx_outcome).chain(receipts.iter().copied()).all(|r| chain.block(r.executed_in).is_some_and(|b| b.height() <= final_height));
    let final_execution_status = match (done, all_final) {
        (true, true) => "FINAL",
        (true, false) => "EXECUTED_OPTIMISTIC",
        (false, true) => "INCLUDED_FINAL",
        (false, false) => "INCLUDED",
    };
    Some(json!({
        "status": status,
        "transaction": signed_tx_json(&rec.tx),
        "transaction_outcome": outcome_with_id_json(chain, tx_outcome),
        "receipts_outcome": receipts.iter().map(|r| outcome_with_id_json(chain, r)).collect::<Vec<_>>(),
        "final_execution_status": final_execution_status,
    }))
}
