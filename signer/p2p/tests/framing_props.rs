//! Property tests for the frame layer and the control messages.

use proptest::prelude::*;
use tdsigner_p2p::frame::{
    encode_frame, encoded_len, Control, Frame, FrameDecoder, FrameError, Hello, HEADER_BYTES,
    LEN_BYTES,
};
use tdsigner_p2p::{Channel, ParticipantId};

fn arb_frame(max_payload: usize) -> impl Strategy<Value = Frame> {
    (
        any::<u8>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..=max_payload),
    )
        .prop_map(|(channel, session, seq, payload)| Frame {
            channel,
            session,
            seq,
            payload,
        })
}

/// Splits `bytes` at the given cut points (taken modulo the length).
fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| if bytes.is_empty() { 0 } else { c % bytes.len() })
        .collect();
    points.push(0);
    points.push(bytes.len());
    points.sort();
    points.dedup();
    points
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

fn decode_all(d: &mut FrameDecoder, pieces: &[Vec<u8>]) -> Result<Vec<Frame>, FrameError> {
    let mut out = Vec::new();
    for p in pieces {
        d.push(p)?;
        while let Some(f) = d.next_frame()? {
            out.push(f);
        }
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of frames, cut anywhere, decodes to itself; nothing is left over.
    #[test]
    fn frames_round_trip_under_any_chunking(
        frames in prop::collection::vec(arb_frame(300), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut bytes = Vec::new();
        for f in &frames {
            encode_frame(&mut bytes, f.channel, &f.session, f.seq, &f.payload).unwrap();
        }
        prop_assert_eq!(bytes.len(), frames.iter().map(|f| encoded_len(f.payload.len())).sum::<usize>());
        let mut d = FrameDecoder::new(300);
        let got = decode_all(&mut d, &split(&bytes, &cuts)).unwrap();
        prop_assert_eq!(got, frames);
        prop_assert_eq!(d.buffered(), 0);
    }

    /// `decode` (direct parsing) returns exactly what `push` + `next_frame` return, errors included.
    #[test]
    fn decode_matches_push_and_next_frame(
        frames in prop::collection::vec(arb_frame(100), 0..6),
        junk in prop::collection::vec(any::<u8>(), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
        max in 0usize..120,
    ) {
        let mut bytes = Vec::new();
        for f in &frames {
            encode_frame(&mut bytes, f.channel, &f.session, f.seq, &f.payload).unwrap();
        }
        bytes.extend_from_slice(&junk);
        let pieces = split(&bytes, &cuts);
        let mut a = FrameDecoder::new(max);
        let mut b = FrameDecoder::new(max);
        let mut got_a = Vec::new();
        let mut err_a = None;
        for p in &pieces {
            if let Err(e) = a.decode(p, &mut got_a) { err_a = Some(e); break; }
        }
        let mut got_b = Vec::new();
        let mut err_b = None;
        'outer: for p in &pieces {
            if let Err(e) = b.push(p) { err_b = Some(e); break; }
            loop {
                match b.next_frame() {
                    Ok(Some(f)) => got_b.push(f),
                    Ok(None) => break,
                    Err(e) => { err_b = Some(e); break 'outer; }
                }
            }
        }
        prop_assert_eq!(&err_a, &err_b);
        // On error, push may have discarded complete frames that decode already returned.
        if err_a.is_none() {
            prop_assert_eq!(&got_a, &got_b);
            prop_assert_eq!(a.buffered(), b.buffered());
        } else {
            prop_assert!(got_b.len() <= got_a.len());
            prop_assert_eq!(&got_a[..got_b.len()], &got_b[..]);
        }
    }

    /// A frame over the limit is refused, at whatever point its prefix becomes visible, and
    /// frames before it are still returned if they were complete before it arrived.
    #[test]
    fn oversize_frames_are_refused(
        before in prop::collection::vec(arb_frame(64), 0..3),
        excess in 1usize..10_000,
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let max = 64;
        let mut bytes = Vec::new();
        for f in &before {
            encode_frame(&mut bytes, f.channel, &f.session, f.seq, &f.payload).unwrap();
        }
        let good_len = bytes.len();
        let body = (HEADER_BYTES + max + excess) as u32;
        bytes.extend_from_slice(&body.to_le_bytes());
        bytes.extend_from_slice(&[0u8; 16]);
        let mut d = FrameDecoder::new(max);
        let mut got = Vec::new();
        let mut err = None;
        for p in split(&bytes, &cuts) {
            if let Err(e) = d.push(&p) { err = Some(e); break; }
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => got.push(f),
                    Ok(None) => break,
                    Err(e) => { err = Some(e); break; }
                }
            }
            if err.is_some() { break; }
        }
        prop_assert_eq!(err, Some(FrameError::TooLarge { payload_len: (max + excess) as u64, max }));
        // Never more than the good prefix's frames, never a frame past the bad prefix.
        prop_assert!(got.len() <= before.len());
        prop_assert_eq!(&got[..], &before[..got.len()]);
        prop_assert!(good_len + LEN_BYTES <= bytes.len());
        prop_assert_eq!(d.push(&[0]), Err(FrameError::Poisoned));
    }

    /// Arbitrary bytes never panic; buffering never exceeds input; an error is sticky.
    #[test]
    fn arbitrary_input_is_handled(pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..10)) {
        let mut d = FrameDecoder::new(128);
        let mut total = 0usize;
        let mut failed = false;
        for p in &pieces {
            total += p.len();
            if d.push(p).is_err() {
                failed = true;
                break;
            }
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => prop_assert!(f.payload.len() <= 128),
                    Ok(None) => break,
                    Err(_) => { failed = true; break; }
                }
            }
            if failed { break; }
            prop_assert!(d.buffered() <= total);
        }
        if failed {
            prop_assert_eq!(d.next_frame(), Err(FrameError::Poisoned));
        }
    }

    /// Control messages round-trip; a decoded message re-encodes to the same bytes.
    #[test]
    fn control_round_trip(
        claimed in any::<u32>(), inc in any::<u64>(), peer_inc in any::<u64>(),
        chans in prop::collection::btree_map(1u8..16, any::<u64>(), 0..15),
        junk in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let acks: Vec<(Channel, u64)> = chans.into_iter().map(|(c, s)| (Channel::new(c).unwrap(), s)).collect();
        for msg in [
            Control::Hello(Hello { version: 1, claimed: ParticipantId(claimed), incarnation: inc, peer_incarnation: peer_inc, acks: acks.clone() }),
            Control::Ack(acks.clone()),
            Control::Ping,
        ] {
            prop_assert_eq!(Control::decode(&msg.encode()), Ok(msg.clone()));
        }
        if let Ok(m) = Control::decode(&junk) {
            prop_assert_eq!(m.encode(), junk);
        }
    }
}
