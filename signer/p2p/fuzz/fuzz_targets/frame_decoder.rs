//! The streaming frame decoder on hostile bytes, cut into pieces chosen by the input, through
//! `push` + `next_frame` and through `decode` side by side. It must never panic, never return a
//! payload over the limit, and stay failed once failed; frames re-encode to exactly the bytes
//! consumed, and both paths agree.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_p2p::frame::{encode_frame, FrameDecoder, FrameError};

fuzz_target!(|data: &[u8]| {
    let Some((&limit, mut rest)) = data.split_first() else {
        return;
    };
    let max = limit as usize * 4;
    let mut d = FrameDecoder::new(max);
    let mut consumed = Vec::new();
    let mut fed = Vec::new();
    let mut failed = false;
    while let Some((&n, tail)) = rest.split_first() {
        let n = (n as usize).min(tail.len());
        let (piece, tail) = tail.split_at(n);
        rest = tail;
        fed.extend_from_slice(piece);
        if d.push(piece).is_err() {
            failed = true;
            break;
        }
        loop {
            match d.next_frame() {
                Ok(Some(f)) => {
                    assert!(f.payload.len() <= max);
                    encode_frame(&mut consumed, f.channel, &f.session, f.seq, &f.payload).unwrap();
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break;
        }
        assert_eq!(&fed[..consumed.len()], &consumed[..]);
        assert_eq!(consumed.len() + d.buffered(), fed.len());
    }
    if failed {
        assert_eq!(d.next_frame(), Err(FrameError::Poisoned));
        assert_eq!(d.push(&[1]), Err(FrameError::Poisoned));
    }
    // The direct path, same pieces.
    let Some((_, mut rest)) = data.split_first() else { return };
    let mut d2 = FrameDecoder::new(max);
    let mut frames = Vec::new();
    let mut consumed2 = Vec::new();
    let mut failed2 = false;
    while let Some((&n, tail)) = rest.split_first() {
        let n = (n as usize).min(tail.len());
        let (piece, tail) = tail.split_at(n);
        rest = tail;
        if d2.decode(piece, &mut frames).is_err() {
            failed2 = true;
            break;
        }
    }
    for f in &frames {
        assert!(f.payload.len() <= max);
        encode_frame(&mut consumed2, f.channel, &f.session, f.seq, &f.payload).unwrap();
    }
    assert_eq!(failed, failed2);
    if !failed {
        assert_eq!(consumed, consumed2);
    } else {
        assert!(consumed.len() <= consumed2.len() && consumed2.starts_with(&consumed));
    }
});
