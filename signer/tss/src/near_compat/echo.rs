//! near's multi-session echo broadcast (Bracha-style reliable broadcast), message compatible.
//!
//! One waitpoint carries n sessions; session `i` is the broadcast of the participant at index
//! `i` of the sorted list. Messages are `[session_index, {"Send"|"Echo"|"Ready": value}]`.
//! Rules, as near's nodes apply them: a `Send` is accepted once per session and only from the
//! session's owner, and is answered with an `Echo` to everyone; each sender's `Echo`/`Ready`
//! counts once per session; more than `echo_t` equal echoes trigger a `Ready`; more than
//! `ready_t` equal readies trigger one amplifying `Ready`; more than `2·ready_t` readies deliver
//! the session's value. With n ≤ 3 both thresholds are 0; otherwise f = ⌊(n−1)/3⌋,
//! `echo_t` = ⌊(n+f)/2⌋ and `ready_t` = f. Our own votes are counted as if received.
//! Payloads that do not decode are ignored, like near does.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use super::channel::Header;
use super::error::{DecodeError, ProtocolError};
use super::msgpack::{Reader, Writer};
use super::protocol::{Outgoing, Participants};

/// A value that travels in MessagePack.
pub trait Wire: Sized + Clone + PartialEq {
    fn encode(&self, w: &mut Writer);
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

impl Wire for [u8; 32] {
    fn encode(&self, w: &mut Writer) {
        w.byte_array(self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.byte_array::<32>("32-byte value")
    }
}

/// `(bool, [u8; 32])`: the final success vote of near's DKG.
impl Wire for (bool, [u8; 32]) {
    fn encode(&self, w: &mut Writer) {
        w.array(2);
        w.bool(self.0);
        w.byte_array(&self.1);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.tuple(2, "success vote")?;
        Ok((r.bool("success flag")?, r.byte_array::<32>("session id")?))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vote<T> {
    Send(T),
    Echo(T),
    Ready(T),
}

const VARIANTS: [&str; 3] = ["Send", "Echo", "Ready"];

/// Encodes `[session, {"Kind": value}]` behind `header`.
pub fn encode_vote<T: Wire>(header: Header, session: usize, vote: &Vote<T>) -> Vec<u8> {
    let mut w = Writer::with_prefix(&header.to_bytes());
    w.array(2);
    w.uint(session as u64);
    w.map(1);
    let (name, value) = match vote {
        Vote::Send(v) => (VARIANTS[0], v),
        Vote::Echo(v) => (VARIANTS[1], v),
        Vote::Ready(v) => (VARIANTS[2], v),
    };
    w.str(name);
    value.encode(&mut w);
    w.into_vec()
}

/// Decodes a vote payload (after the header).
pub fn decode_vote<T: Wire>(payload: &[u8]) -> Result<(usize, Vote<T>), DecodeError> {
    let mut r = Reader::new(payload);
    r.tuple(2, "broadcast message")?;
    let session = r.usize("session index")?;
    let entries = r.map_len("vote")?;
    if entries != 1 {
        return Err(DecodeError::WrongLength {
            what: "vote",
            expected: 1,
            got: entries,
        });
    }
    let name = r.str("vote kind")?;
    let value = T::decode(&mut r)?;
    r.finish()?;
    let vote = match name {
        b"Send" => Vote::Send(value),
        b"Echo" => Vote::Echo(value),
        b"Ready" => Vote::Ready(value),
        _ => return Err(DecodeError::UnknownVariant { what: "vote kind" }),
    };
    Ok((session, vote))
}

struct Session<T> {
    echoes: Vec<(T, usize)>,
    readies: Vec<(T, usize)>,
    seen_echo: Vec<bool>,
    seen_ready: Vec<bool>,
    finish_send: bool,
    finish_echo: bool,
    finish_amplification: bool,
    finish_ready: bool,
}

fn count<T: PartialEq>(list: &mut Vec<(T, usize)>, value: T) -> usize {
    if let Some(entry) = list.iter_mut().find(|(v, _)| *v == value) {
        entry.1 += 1;
        entry.1
    } else {
        list.push((value, 1));
        1
    }
}

/// One participant's state in an n-session echo broadcast at one waitpoint.
pub struct EchoBroadcast<T> {
    header: Header,
    participants: Participants,
    me: u32,
    echo_t: usize,
    ready_t: usize,
    sessions: Vec<Session<T>>,
    sent: T,
    output: Vec<Option<T>>,
    done: bool,
}

impl<T: Wire> EchoBroadcast<T> {
    /// Sends our value (`Send`) and processes it as received.
    pub fn start(
        header: Header,
        participants: &Participants,
        me: u32,
        value: T,
        out: &mut VecDeque<Outgoing>,
    ) -> Result<Self, ProtocolError> {
        let n = participants.len();
        let me_index = participants
            .index(me)
            .ok_or_else(|| ProtocolError::BadInput("own id is not a participant".into()))?;
        let (echo_t, ready_t) = if n <= 3 {
            (0, 0)
        } else {
            let f = (n - 1) / 3;
            ((n + f) / 2, f)
        };
        let sessions = (0..n)
            .map(|_| Session {
                echoes: Vec::new(),
                readies: Vec::new(),
                seen_echo: vec![false; n],
                seen_ready: vec![false; n],
                finish_send: false,
                finish_echo: false,
                finish_amplification: false,
                finish_ready: false,
            })
            .collect();
        let mut b = Self {
            header,
            participants: participants.clone(),
            me,
            echo_t,
            ready_t,
            sessions,
            sent: value.clone(),
            output: vec![None; n],
            done: false,
        };
        let vote = Vote::Send(value);
        out.push_back(Outgoing::Many(encode_vote(header, me_index, &vote)));
        b.process(me, me_index, vote, out)?;
        Ok(b)
    }

    /// Handles one received payload; undecodable ones are skipped.
    pub fn receive(
        &mut self,
        from: u32,
        payload: &[u8],
        out: &mut VecDeque<Outgoing>,
    ) -> Result<(), ProtocolError> {
        if self.done {
            return Ok(());
        }
        match decode_vote::<T>(payload) {
            Ok((session, vote)) => self.process(from, session, vote, out),
            Err(_) => Ok(()),
        }
    }

    /// True once every session delivered.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The delivered values, indexed like the sorted participant list, once all are delivered.
    pub fn output(&self) -> Option<Vec<T>> {
        if !self.done {
            return None;
        }
        self.output.iter().cloned().collect()
    }

    fn process(
        &mut self,
        from: u32,
        session: usize,
        vote: Vote<T>,
        out: &mut VecDeque<Outgoing>,
    ) -> Result<(), ProtocolError> {
        let mut next = Some((from, vote));
        while let Some((from, vote)) = next.take() {
            next = self.step(from, session, vote, out)?;
            if self.done {
                break;
            }
        }
        Ok(())
    }

    /// Applies one vote; returns our own vote to count next, if this one triggered a send.
    fn step(
        &mut self,
        from: u32,
        sid: usize,
        vote: Vote<T>,
        out: &mut VecDeque<Outgoing>,
    ) -> Result<Option<(u32, Vote<T>)>, ProtocolError> {
        let Some(from_index) = self.participants.index(from) else {
            return Ok(None);
        };
        let n = self.participants.len();
        let (echo_t, ready_t, me, header) = (self.echo_t, self.ready_t, self.me, self.header);
        let Some(s) = self.sessions.get_mut(sid) else {
            return Ok(None);
        };
        match vote {
            Vote::Send(data) => {
                if s.finish_send || sid != from_index {
                    return Ok(None);
                }
                let echo = Vote::Echo(data);
                out.push_back(Outgoing::Many(encode_vote(header, sid, &echo)));
                s.finish_send = true;
                Ok(Some((me, echo)))
            }
            Vote::Echo(data) => {
                let first = !core::mem::replace(&mut s.seen_echo[from_index], true);
                if !first || s.finish_echo {
                    return Ok(None);
                }
                if count(&mut s.echoes, data.clone()) > echo_t {
                    let ready = Vote::Ready(data);
                    out.push_back(Outgoing::Many(encode_vote(header, sid, &ready)));
                    s.finish_echo = true;
                    return Ok(Some((me, ready)));
                }
                if !s.finish_amplification {
                    let received: usize = s.echoes.iter().map(|(_, c)| c).sum();
                    let missing = n.saturating_sub(received);
                    if !s.echoes.iter().any(|(_, c)| c + missing > echo_t) {
                        return Err(ProtocolError::BroadcastFailed { session: sid });
                    }
                }
                Ok(None)
            }
            Vote::Ready(data) => {
                let first = !core::mem::replace(&mut s.seen_ready[from_index], true);
                if !first || s.finish_ready {
                    return Ok(None);
                }
                let c = count(&mut s.readies, data.clone());
                let mut again = None;
                if c > ready_t && !s.finish_amplification {
                    let ready = Vote::Ready(data.clone());
                    out.push_back(Outgoing::Many(encode_vote(header, sid, &ready)));
                    s.finish_amplification = true;
                    again = Some((me, ready));
                }
                if c > 2 * ready_t {
                    s.finish_send = true;
                    s.finish_echo = true;
                    s.finish_ready = true;
                    let own = self.participants.index(me) == Some(sid);
                    if own && data != self.sent {
                        return Err(ProtocolError::OwnBroadcastAltered);
                    }
                    self.output[sid] = Some(data);
                    if self.sessions.iter().all(|s| s.finish_ready) {
                        self.done = true;
                    }
                }
                Ok(again)
            }
        }
    }
}
