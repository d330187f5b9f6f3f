//! Counters of the P2P layer, and their Prometheus text rendering.
//!
//! This module owns the names and meaning of every counter; the connection manager increments
//! them. Totals live in [`Metrics`], per-peer figures in [`PeerMetrics`]. Rendering writes the
//! Prometheus text exposition format (version 0.0.4) into a `String`, so the node can serve it on
//! `/metrics` without std.

use alloc::string::String;
use core::fmt::Write;

use tdsigner_tss::ParticipantId;

/// Totals over all peers since the manager started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Outbound connection attempts requested (`Action::Connect`).
    pub dials: u64,
    /// Dials that failed or timed out before the connection was authenticated.
    pub dial_failures: u64,
    /// Connections that completed TLS and the hello exchange.
    pub connections_established: u64,
    /// Connections closed, for any reason.
    pub connections_closed: u64,
    /// TLS handshakes that failed for a reason other than authentication.
    pub handshake_failures: u64,
    /// Peers refused because their TLS key is not the registered one (unregistered key, our own
    /// key, or — when dialing — another participant's key).
    pub auth_rejected_key: u64,
    /// Authenticated peers whose hello claimed another participant's id.
    pub auth_rejected_claim: u64,
    /// Connections that did not authenticate within the connect timeout.
    pub handshake_timeouts: u64,
    /// Connections closed after the idle timeout without any bytes from the peer.
    pub idle_timeouts: u64,
    /// Peers seen with a new incarnation (process restart).
    pub peer_restarts: u64,
    /// Application frames sent (first transmissions).
    pub frames_sent: u64,
    /// Application frames sent again after a reconnection.
    pub frames_retransmitted: u64,
    /// Application frames received and accepted in sequence.
    pub frames_received: u64,
    /// Messages handed up (`Action::Deliver`).
    pub messages_delivered: u64,
    /// Frames with a sequence number already seen on their channel (replays, duplicates).
    pub frames_replayed: u64,
    /// Frames with a sequence number beyond the next expected one (reordered or skipped).
    pub frames_reordered: u64,
    /// Frames for a closed session, from a peer outside the session, on an unknown channel, or
    /// for a session never opened before the early buffer expired or overflowed.
    pub frames_misrouted: u64,
    /// Frames that arrived before their session was opened and were buffered.
    pub frames_buffered_early: u64,
    /// Length prefixes over the limit (the connection is closed).
    pub frames_oversize: u64,
    /// Malformed control messages or frames out of place (the connection is closed).
    pub protocol_violations: u64,
    /// Messages refused by `send` because the peer's queue was full.
    pub send_queue_full: u64,
    /// Transmitted, unacknowledged messages discarded because the peer restarted.
    pub dropped_on_peer_restart: u64,
    /// Held messages discarded because their peer left the set (or its key changed).
    pub dropped_peer_removed: u64,
}

/// Figures for one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerMetrics {
    pub connected: bool,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub frames_replayed: u64,
    pub frames_reordered: u64,
    pub frames_misrouted: u64,
    pub send_queue_full: u64,
    /// Messages waiting to be transmitted.
    pub queued_messages: usize,
    /// Bytes held for the peer: queued payloads plus transmitted, unacknowledged frames.
    pub held_bytes: usize,
    /// Transmitted, unacknowledged frames.
    pub inflight_frames: usize,
}

const PREFIX: &str = "tdsigner_p2p_";

impl Metrics {
    /// Every counter: (metric name without the prefix, help text, value).
    fn counters(&self) -> [(&'static str, &'static str, u64); 23] {
        [
            ("dials_total", "Outbound connection attempts", self.dials),
            ("dial_failures_total", "Dials that failed before authentication", self.dial_failures),
            ("connections_established_total", "Authenticated connections", self.connections_established),
            ("connections_closed_total", "Closed connections", self.connections_closed),
            ("handshake_failures_total", "TLS handshakes failed (not authentication)", self.handshake_failures),
            ("auth_rejected_key_total", "Peers refused for an unregistered or unexpected TLS key", self.auth_rejected_key),
            ("auth_rejected_claim_total", "Peers refused for claiming another participant's id", self.auth_rejected_claim),
            ("handshake_timeouts_total", "Connections not authenticated in time", self.handshake_timeouts),
            ("idle_timeouts_total", "Connections closed as idle", self.idle_timeouts),
            ("peer_restarts_total", "Peers seen with a new incarnation", self.peer_restarts),
            ("frames_sent_total", "Application frames sent", self.frames_sent),
            ("frames_retransmitted_total", "Application frames resent after reconnection", self.frames_retransmitted),
            ("frames_received_total", "Application frames accepted", self.frames_received),
            ("messages_delivered_total", "Messages handed to the node", self.messages_delivered),
            ("frames_replayed_total", "Frames dropped as replays", self.frames_replayed),
            ("frames_reordered_total", "Frames dropped as out of order", self.frames_reordered),
            ("frames_misrouted_total", "Frames dropped as misrouted", self.frames_misrouted),
            ("frames_buffered_early_total", "Frames buffered before their session opened", self.frames_buffered_early),
            ("frames_oversize_total", "Oversize frames refused", self.frames_oversize),
            ("protocol_violations_total", "Malformed or misplaced control frames", self.protocol_violations),
            ("send_queue_full_total", "Messages refused for a full peer queue", self.send_queue_full),
            ("dropped_peer_removed_total", "Held messages dropped because the peer left the set", self.dropped_peer_removed),
            ("dropped_on_peer_restart_total", "Unacknowledged messages dropped on peer restart", self.dropped_on_peer_restart),
        ]
    }

    /// Writes every counter, then the per-peer series, in Prometheus text format.
    pub fn render_prometheus<'a>(
        &self,
        peers: impl IntoIterator<Item = (ParticipantId, &'a PeerMetrics)> + Clone,
        out: &mut String,
    ) {
        for (name, help, value) in self.counters() {
            let _ = writeln!(out, "# HELP {PREFIX}{name} {help}\n# TYPE {PREFIX}{name} counter\n{PREFIX}{name} {value}");
        }
        type Field = fn(&PeerMetrics) -> u64;
        let per_peer: [(&str, &str, &str, Field); 7] = [
            (
                "peer_connected",
                "gauge",
                "1 if an authenticated connection to the peer is up",
                |m| m.connected as u64,
            ),
            (
                "peer_frames_sent_total",
                "counter",
                "Application frames sent to the peer",
                |m| m.frames_sent,
            ),
            (
                "peer_frames_received_total",
                "counter",
                "Application frames accepted from the peer",
                |m| m.frames_received,
            ),
            (
                "peer_frames_replayed_total",
                "counter",
                "Replayed frames from the peer",
                |m| m.frames_replayed,
            ),
            (
                "peer_frames_reordered_total",
                "counter",
                "Out-of-order frames from the peer",
                |m| m.frames_reordered,
            ),
            (
                "peer_frames_misrouted_total",
                "counter",
                "Misrouted frames from the peer",
                |m| m.frames_misrouted,
            ),
            (
                "peer_held_bytes",
                "gauge",
                "Bytes queued or unacknowledged for the peer",
                |m| m.held_bytes as u64,
            ),
        ];
        for (name, kind, help, field) in per_peer {
            let _ = writeln!(
                out,
                "# HELP {PREFIX}{name} {help}\n# TYPE {PREFIX}{name} {kind}"
            );
            for (id, m) in peers.clone() {
                let _ = writeln!(out, "{PREFIX}{name}{{peer=\"{}\"}} {}", id.0, field(m));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn prometheus_text_has_every_series() {
        let m = Metrics {
            frames_replayed: 3,
            ..Default::default()
        };
        let p = PeerMetrics {
            connected: true,
            frames_replayed: 3,
            held_bytes: 10,
            ..Default::default()
        };
        let mut out = String::new();
        m.render_prometheus(vec![(ParticipantId(2), &p)], &mut out);
        assert!(out.contains("tdsigner_p2p_frames_replayed_total 3\n"));
        assert!(out.contains("tdsigner_p2p_peer_connected{peer=\"2\"} 1\n"));
        assert!(out.contains("tdsigner_p2p_peer_held_bytes{peer=\"2\"} 10\n"));
        assert_eq!(out.matches("# TYPE").count(), 23 + 7);
    }
}
