//! Counters the node keeps, rendered in Prometheus text format for `/metrics`, and the small
//! status document `/public_data` embeds.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt::Write;

/// The node's counters (monotonic unless noted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    // chain
    pub light_client_advances: u64,
    pub light_client_rejected: u64,
    pub blocks_scanned: u64,
    pub scan_errors: u64,
    /// Receipt ids that looked like `sign` calls in unverified chunk answers.
    pub requests_seen: u64,
    /// Candidates that became proven sign requests.
    pub requests_proven: u64,
    /// Candidates given up: no valid proof within `candidate_max_age_blocks`, or the proven
    /// outcome was not an actionable request.
    pub requests_unproven: u64,
    /// Requests this node answered as leader (signature verified locally, `respond` accepted
    /// by an endpoint).
    pub requests_signed: u64,
    /// Requests dropped unanswered by this node (timed out, answered by someone else).
    pub requests_dropped: u64,
    pub respond_tx_failed: u64,
    // protocols
    pub protocols_started: BTreeMap<&'static str, u64>,
    pub protocols_completed: BTreeMap<&'static str, u64>,
    /// Aborts by (protocol, blamed participant or "none").
    pub protocol_aborts: BTreeMap<(&'static str, String), u64>,
    pub protocol_timeouts: BTreeMap<&'static str, u64>,
    /// Runs given up by (protocol, reason: declined, peer_down).
    pub protocol_cancelled: BTreeMap<(&'static str, &'static str), u64>,
    pub declines_received: BTreeMap<&'static str, u64>,
    pub declines_sent: BTreeMap<&'static str, u64>,
    // pools (gauges)
    pub triples_owned: u64,
    pub triples_held: u64,
    pub presignatures_owned: u64,
    pub presignatures_held: u64,
    // p2p as seen by the node
    pub p2p_messages_in: u64,
    pub p2p_messages_out: u64,
    pub p2p_bytes_in: u64,
    pub p2p_bytes_out: u64,
    pub p2p_send_errors: u64,
    pub p2p_early_held: u64,
    pub p2p_early_dropped: u64,
    pub p2p_bad_coordination: u64,
    pub peers_up: u64,
    /// Gauge.
    pub peers_connected: u64,
    // rpc
    pub rpc_calls: u64,
    pub rpc_failures: u64,
    pub rpc_rejected: u64,
    // transactions
    pub tx_sent: BTreeMap<&'static str, u64>,
    pub tx_failed: BTreeMap<&'static str, u64>,
    // keys
    pub keys_activated: u64,
    pub refreshes_completed: u64,
    pub attestations_submitted: u64,
    /// 1 while the contract holds no TEE verification of this node (Mock attestation).
    pub attestation_unverified: u64,
    /// Key events seen for a domain this node cannot serve.
    pub key_events_unservable: u64,
    /// Contract-state reads proven against the light client, and reads that were not.
    pub contract_state_proven: u64,
    pub contract_state_unproven: u64,
    pub store_errors: u64,
}

pub(crate) fn bump(map: &mut BTreeMap<&'static str, u64>, key: &'static str) {
    *map.entry(key).or_insert(0) += 1;
}

fn line(out: &mut String, name: &str, labels: &str, v: u64) {
    if labels.is_empty() {
        let _ = writeln!(out, "tdsigner_{name} {v}");
    } else {
        let _ = writeln!(out, "tdsigner_{name}{{{labels}}} {v}");
    }
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP tdsigner_{name} {text}");
    let _ = writeln!(out, "# TYPE tdsigner_{name} {kind}");
}

fn family(out: &mut String, name: &str, kind: &str, text: &str, label: &str, map: &BTreeMap<&'static str, u64>) {
    help(out, name, kind, text);
    for (k, v) in map {
        line(out, name, &alloc::format!("{label}=\"{k}\""), *v);
    }
}

impl Metrics {
    /// Appends every counter in Prometheus text exposition format.
    pub fn render_prometheus(&self, out: &mut String) {
        let simple: [(&str, &str, &str, u64); 34] = [
            ("light_client_advances_total", "counter", "Verified light-client head advances.", self.light_client_advances),
            ("light_client_rejected_total", "counter", "Light-client blocks refused.", self.light_client_rejected),
            ("blocks_scanned_total", "counter", "Blocks scanned for sign-request candidates.", self.blocks_scanned),
            ("scan_errors_total", "counter", "Block/chunk answers not usable for scanning.", self.scan_errors),
            ("requests_seen_total", "counter", "Sign-request candidates seen in unverified chunks.", self.requests_seen),
            ("requests_proven_total", "counter", "Sign requests proven by the light client.", self.requests_proven),
            ("requests_unproven_total", "counter", "Candidates never proven (dropped).", self.requests_unproven),
            ("requests_signed_total", "counter", "Requests answered by this node as leader.", self.requests_signed),
            ("requests_dropped_total", "counter", "Proven requests dropped by this node.", self.requests_dropped),
            ("respond_failed_total", "counter", "respond transactions refused by every endpoint.", self.respond_tx_failed),
            ("triples_owned", "gauge", "Triples this node owns.", self.triples_owned),
            ("triples_held", "gauge", "Triple shares held (all owners).", self.triples_held),
            ("presignatures_owned", "gauge", "Presignatures this node owns.", self.presignatures_owned),
            ("presignatures_held", "gauge", "Presignature shares held (all owners).", self.presignatures_held),
            ("p2p_messages_in_total", "counter", "P2P messages received.", self.p2p_messages_in),
            ("p2p_messages_out_total", "counter", "P2P messages queued for sending.", self.p2p_messages_out),
            ("p2p_bytes_in_total", "counter", "P2P payload bytes received.", self.p2p_bytes_in),
            ("p2p_bytes_out_total", "counter", "P2P payload bytes queued.", self.p2p_bytes_out),
            ("p2p_send_errors_total", "counter", "P2P sends refused by the transport.", self.p2p_send_errors),
            ("p2p_early_held_total", "counter", "Messages held for sessions not started yet.", self.p2p_early_held),
            ("p2p_early_dropped_total", "counter", "Early or stale messages dropped.", self.p2p_early_dropped),
            ("p2p_bad_coordination_total", "counter", "Coordination messages that did not decode.", self.p2p_bad_coordination),
            ("peers_up_total", "counter", "Peer connections that came up.", self.peers_up),
            ("peers_connected", "gauge", "Peers currently connected.", self.peers_connected),
            ("rpc_calls_total", "counter", "RPC calls made.", self.rpc_calls),
            ("rpc_failures_total", "counter", "RPC calls that failed (transport, HTTP, JSON-RPC).", self.rpc_failures),
            ("rpc_rejected_total", "counter", "RPC answers refused by verification.", self.rpc_rejected),
            ("keys_activated_total", "counter", "Key shares put into use.", self.keys_activated),
            ("refreshes_completed_total", "counter", "Key refreshes switched to.", self.refreshes_completed),
            ("attestations_submitted_total", "counter", "submit_participant_info transactions sent.", self.attestations_submitted),
            ("attestation_tee_unverified", "gauge", "1: attestation=mock-testnet, the signer contract did NOT verify this node's TEE.", self.attestation_unverified),
            ("key_events_unservable_total", "counter", "Contract key events for a domain this node cannot serve (see /public_data key_event_note).", self.key_events_unservable),
            ("contract_state_proven_total", "counter", "Contract STATE reads proven against the light-client head.", self.contract_state_proven),
            ("contract_state_unproven_total", "counter", "Contract STATE reads that could not be proven (see /public_data contract_proof_note).", self.contract_state_unproven),
        ];
        for (name, kind, text, v) in simple {
            help(out, name, kind, text);
            line(out, name, "", v);
        }
        help(out, "store_errors_total", "counter", "Sealed-store operations that failed.");
        line(out, "store_errors_total", "", self.store_errors);
        family(out, "protocols_started_total", "counter", "Threshold protocol runs started.", "protocol", &self.protocols_started);
        family(out, "protocols_completed_total", "counter", "Threshold protocol runs completed.", "protocol", &self.protocols_completed);
        family(out, "protocol_timeouts_total", "counter", "Runs aborted for lack of progress.", "protocol", &self.protocol_timeouts);
        help(out, "protocol_aborts_total", "counter", "Runs aborted by an error, with the participant it blames.");
        for ((p, culprit), v) in &self.protocol_aborts {
            line(out, "protocol_aborts_total", &alloc::format!("protocol=\"{p}\",blamed=\"{culprit}\""), *v);
        }
        help(out, "protocol_cancelled_total", "counter", "Runs given up: a participant declined or its connection went down.");
        for ((p, reason), v) in &self.protocol_cancelled {
            line(out, "protocol_cancelled_total", &alloc::format!("protocol=\"{p}\",reason=\"{reason}\""), *v);
        }
        family(out, "declines_received_total", "counter", "Peers declining a run.", "reason", &self.declines_received);
        family(out, "declines_sent_total", "counter", "Runs this node declined.", "reason", &self.declines_sent);
        family(out, "tx_sent_total", "counter", "Transactions accepted by an endpoint.", "method", &self.tx_sent);
        family(out, "tx_failed_total", "counter", "Transactions refused.", "method", &self.tx_failed);
    }

    /// Sum of a labelled family.
    pub fn total(map: &BTreeMap<&'static str, u64>) -> u64 {
        map.values().sum()
    }

    /// Aborts blaming `participant` (its id as text), over all protocols.
    pub fn aborts_blaming(&self, participant: &str) -> u64 {
        self.protocol_aborts.iter().filter(|((_, c), _)| c == participant).map(|(_, v)| *v).sum()
    }
}

/// What `/public_data` shows about the node state machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub contract_state: &'static str,
    pub participant_id: Option<u32>,
    pub light_client_height: u64,
    pub light_client_hash: String,
    /// `secp256k1:` root key the active share belongs to.
    pub public_key: Option<String>,
    /// Contract keyset epoch of the active share.
    pub key_epoch: Option<u64>,
    /// Hex sharing id of the active share.
    pub sharing_id: Option<String>,
    pub attested: bool,
    pub peers_connected: usize,
    pub triples_owned: usize,
    pub presignatures_owned: usize,
    pub pending_requests: usize,
    /// Why the last light-client block offered was refused, if the last offer was refused
    /// (an operator's first clue when a node stops following the chain).
    pub light_client_rejection: Option<String>,
    /// `dstack` or `mock-testnet`.
    pub attestation_mode: &'static str,
    /// Why the contract may not count this node attested (Mock: TEE not verified; Dstack:
    /// what the payload lacks; a view not understood).
    pub attestation_note: Option<String>,
    /// A key event this node cannot take part in, said plainly.
    pub key_event_note: Option<String>,
    /// `proven` or `unproven-views` (simulators only).
    pub contract_state_source: &'static str,
    /// Why the last contract-state read was not proven, if it was not.
    pub contract_proof_note: Option<String>,
}

impl Status {
    /// A JSON object (no secrets: public key, ids, heights, counts).
    pub fn to_json(&self) -> String {
        let v = serde_json::json!({
            "contract_state": self.contract_state,
            "participant_id": self.participant_id,
            "light_client_height": self.light_client_height,
            "light_client_hash": self.light_client_hash,
            "public_key": self.public_key,
            "key_epoch": self.key_epoch,
            "sharing_id": self.sharing_id,
            "attested": self.attested,
            "peers_connected": self.peers_connected,
            "triples_owned": self.triples_owned,
            "presignatures_owned": self.presignatures_owned,
            "pending_requests": self.pending_requests,
            "light_client_rejection": self.light_client_rejection,
            "attestation_mode": self.attestation_mode,
            "attestation_note": self.attestation_note,
            "key_event_note": self.key_event_note,
            "contract_state_source": self.contract_state_source,
            "contract_proof_note": self.contract_proof_note,
        });
        serde_json::to_string(&v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_is_well_formed() {
        let mut m = Metrics { requests_signed: 3, ..Metrics::default() };
        bump(&mut m.protocols_started, "sign");
        m.protocol_aborts.insert(("sign", String::from("3")), 2);
        m.protocol_cancelled.insert(("presign", "declined"), 1);
        let mut out = String::new();
        m.render_prometheus(&mut out);
        assert!(out.contains("tdsigner_requests_signed_total 3\n"));
        assert!(out.contains("tdsigner_protocols_started_total{protocol=\"sign\"} 1\n"));
        assert!(out.contains("tdsigner_protocol_aborts_total{protocol=\"sign\",blamed=\"3\"} 2\n"));
        assert!(out.contains("tdsigner_protocol_cancelled_total{protocol=\"presign\",reason=\"declined\"} 1\n"));
        // Every sample line belongs to a family declared by HELP/TYPE lines.
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(out.contains(&alloc::format!("# TYPE {name} ")), "{name} has no TYPE");
        }
        assert_eq!(m.aborts_blaming("3"), 2);
        assert_eq!(m.aborts_blaming("1"), 0);
    }
}
