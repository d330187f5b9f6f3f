//! Coordination messages between nodes (P2P channel `COORDINATION`): who starts which
//! threshold protocol run with which stored material, refusals, aborts, the old sharing for
//! new members of a resharing, and the two-phase switch of a refresh. Bytes come from peers:
//! the decoder is bounded and strict (version, tag, exact lengths, no trailing bytes).

use alloc::vec::Vec;

use tdsigner_p2p::{ParticipantId, SessionId};
use tdsigner_tss::participants::MAX_PARTICIPANTS;

use super::codec::{CodecError, Reader, Writer};

const VERSION: u8 = 1;
/// Largest encoded public sharing accepted (256 participants, threshold 256: ~9.5 KiB).
pub const MAX_SHARING_BYTES: usize = 16 * 1024;

/// Why a participant declines a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclineReason {
    /// It does not hold the named triple/presignature (consumed, discarded at restart, or
    /// never generated).
    UnknownItem,
    /// It has not proven the request (yet) within its hold time.
    NotProven,
    /// It holds too much foreign material or runs too much already.
    Busy,
    /// The parameters do not fit its view (participants, threshold, sharing).
    BadParameters,
    /// It has no active key share.
    NoKey,
}

impl DeclineReason {
    fn tag(self) -> u8 {
        match self {
            Self::UnknownItem => 1,
            Self::NotProven => 2,
            Self::Busy => 3,
            Self::BadParameters => 4,
            Self::NoKey => 5,
        }
    }
    fn from_tag(t: u8) -> Option<Self> {
        Some(match t {
            1 => Self::UnknownItem,
            2 => Self::NotProven,
            3 => Self::Busy,
            4 => Self::BadParameters,
            5 => Self::NoKey,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::UnknownItem => "unknown_item",
            Self::NotProven => "not_proven",
            Self::Busy => "busy",
            Self::BadParameters => "bad_parameters",
            Self::NoKey => "no_key",
        }
    }
}

/// A coordination message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coord {
    /// The sender (owner) starts a batch of `count` triples among `participants`, bound to
    /// `sharing_id`, with the sharing's `threshold`.
    StartTriples { session: SessionId, participants: Vec<ParticipantId>, threshold: u16, count: u8, sharing_id: [u8; 32] },
    /// The sender (owner of both triples) starts a presignature from them.
    StartPresign { session: SessionId, triple0: [u8; 32], triple1: [u8; 32] },
    /// The sender (owner of the presignature, signing leader) starts signing request
    /// `request_id` with it.
    StartSign { session: SessionId, request_id: [u8; 32], presignature: [u8; 32] },
    /// The sender will not take part in `session`.
    Decline { session: SessionId, reason: DeclineReason },
    /// The run's owner gave up `session`; participants drop it.
    Abort { session: SessionId },
    /// A resharing dealer's public view of the old sharing, for new members.
    OldSharing { session: SessionId, sharing: Vec<u8> },
    /// The refresh leader starts refresh `round` of sharing `sharing_id`.
    StartRefresh { session: SessionId, round: u64, sharing_id: [u8; 32] },
    /// The sender completed refresh `session` with a new sharing.
    RefreshDone { session: SessionId, new_sharing_id: [u8; 32] },
    /// Sent on every new connection: the sender's random boot id. A changed id means the
    /// peer restarted and dropped its triples and presignatures (its session field is zero).
    Hello { boot_id: [u8; 16] },
}

/// The session field of messages that belong to no session.
pub const NO_SESSION: SessionId = [0; 32];

impl Coord {
    /// The session the message is about.
    pub fn session(&self) -> &SessionId {
        match self {
            Self::StartTriples { session, .. }
            | Self::StartPresign { session, .. }
            | Self::StartSign { session, .. }
            | Self::Decline { session, .. }
            | Self::Abort { session }
            | Self::OldSharing { session, .. }
            | Self::StartRefresh { session, .. }
            | Self::RefreshDone { session, .. } => session,
            Self::Hello { .. } => &NO_SESSION,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(VERSION);
        match self {
            Self::StartTriples { session, participants, threshold, count, sharing_id } => {
                w.u8(1).raw(session).u16(u16::try_from(participants.len()).unwrap_or(u16::MAX));
                for p in participants {
                    w.u32(p.0);
                }
                w.u16(*threshold).u8(*count).raw(sharing_id);
            }
            Self::StartPresign { session, triple0, triple1 } => {
                w.u8(2).raw(session).raw(triple0).raw(triple1);
            }
            Self::StartSign { session, request_id, presignature } => {
                w.u8(3).raw(session).raw(request_id).raw(presignature);
            }
            Self::Decline { session, reason } => {
                w.u8(4).raw(session).u8(reason.tag());
            }
            Self::Abort { session } => {
                w.u8(5).raw(session);
            }
            Self::OldSharing { session, sharing } => {
                w.u8(6).raw(session).var_bytes(sharing);
            }
            Self::StartRefresh { session, round, sharing_id } => {
                w.u8(7).raw(session).u64(*round).raw(sharing_id);
            }
            Self::RefreshDone { session, new_sharing_id } => {
                w.u8(8).raw(session).raw(new_sharing_id);
            }
            Self::Hello { boot_id } => {
                w.u8(9).raw(&NO_SESSION).raw(boot_id);
            }
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        if r.u8("version")? != VERSION {
            return Err(CodecError::BadValue { what: "coordination version" });
        }
        let tag = r.u8("tag")?;
        let session: SessionId = r.array("session")?;
        let msg = match tag {
            1 => {
                let n = r.u16("participant count")? as usize;
                if !(2..=MAX_PARTICIPANTS).contains(&n) {
                    return Err(CodecError::BadValue { what: "participant count" });
                }
                let mut participants = Vec::with_capacity(n);
                for _ in 0..n {
                    participants.push(ParticipantId(r.u32("participant")?));
                }
                let threshold = r.u16("threshold")?;
                let count = r.u8("count")?;
                let sharing_id = r.array("sharing id")?;
                Self::StartTriples { session, participants, threshold, count, sharing_id }
            }
            2 => Self::StartPresign { session, triple0: r.array("triple")?, triple1: r.array("triple")? },
            3 => Self::StartSign { session, request_id: r.array("request id")?, presignature: r.array("presignature")? },
            4 => {
                let reason = DeclineReason::from_tag(r.u8("reason")?).ok_or(CodecError::BadValue { what: "decline reason" })?;
                Self::Decline { session, reason }
            }
            5 => Self::Abort { session },
            6 => Self::OldSharing { session, sharing: r.var_bytes(MAX_SHARING_BYTES, "sharing")?.to_vec() },
            7 => Self::StartRefresh { session, round: r.u64("round")?, sharing_id: r.array("sharing id")? },
            8 => Self::RefreshDone { session, new_sharing_id: r.array("sharing id")? },
            9 if session == NO_SESSION => Self::Hello { boot_id: r.array("boot id")? },
            _ => return Err(CodecError::BadValue { what: "coordination tag" }),
        };
        r.finish()?;
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Coord> {
        let s = [7u8; 32];
        alloc::vec![
            Coord::StartTriples {
                session: s,
                participants: alloc::vec![ParticipantId(0), ParticipantId(5)],
                threshold: 2,
                count: 8,
                sharing_id: [1; 32]
            },
            Coord::StartPresign { session: s, triple0: [2; 32], triple1: [3; 32] },
            Coord::StartSign { session: s, request_id: [4; 32], presignature: [5; 32] },
            Coord::Decline { session: s, reason: DeclineReason::NotProven },
            Coord::Abort { session: s },
            Coord::OldSharing { session: s, sharing: alloc::vec![1, 2, 3] },
            Coord::StartRefresh { session: s, round: 9, sharing_id: [6; 32] },
            Coord::RefreshDone { session: s, new_sharing_id: [8; 32] },
            Coord::Hello { boot_id: [9; 16] },
        ]
    }

    #[test]
    fn round_trip_and_strictness() {
        for m in all() {
            let b = m.encode();
            assert_eq!(Coord::decode(&b).unwrap(), m);
            for n in 0..b.len() {
                assert!(Coord::decode(&b[..n]).is_err(), "{m:?} truncated to {n}");
            }
            let mut long = b.clone();
            long.push(0);
            assert_eq!(Coord::decode(&long), Err(CodecError::TrailingBytes));
        }
        assert!(Coord::decode(&[2, 1]).is_err());
        let mut big = alloc::vec![VERSION, 6];
        big.extend_from_slice(&[0; 32]);
        big.extend_from_slice(&((MAX_SHARING_BYTES as u32) + 1).to_le_bytes());
        assert_eq!(Coord::decode(&big), Err(CodecError::BadValue { what: "sharing" }));
    }
}
