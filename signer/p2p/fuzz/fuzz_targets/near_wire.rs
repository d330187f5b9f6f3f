//! near/mpc's wire on hostile bytes: the frame reader (input cut into pieces the input
//! chooses), the borsh `Packet` decoder on every frame, and both handshake roles. Nothing may
//! panic; a decoded packet re-encodes to exactly its payload (near's layouts are canonical);
//! no frame exceeds the reader's limit; a handshake never consumes more than it was given.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_p2p::near::framing::FrameReader;
use tdsigner_p2p::near::handshake::Handshake;
use tdsigner_p2p::near::packet::Packet;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut hs = match mode % 3 {
        0 => Handshake::dialer(u32::from(mode)),
        1 => Handshake::listener(None),
        _ => Handshake::listener(Some(u32::from(mode))),
    };
    let _ = hs.take_output();
    let mut at = 0;
    while at < rest.len() {
        let n = (rest[at] as usize % 7).min(rest.len() - at - 1);
        let piece = &rest[at + 1..at + 1 + n];
        match hs.receive(piece) {
            Ok((used, _)) => assert!(used <= piece.len()),
            Err(_) => break,
        }
        at += 1 + n;
    }

    let max = 1 + (mode as usize) * 64;
    let mut reader = FrameReader::new(max);
    for piece in rest.chunks(1 + mode as usize % 13) {
        let Ok(frames) = reader.push(piece) else { break };
        for payload in frames {
            assert!(payload.len() <= max);
            if let Ok(packet) = Packet::decode(&payload) {
                assert_eq!(packet.encode(), payload);
                let _ = packet.label();
            }
        }
    }
    if let Ok(packet) = Packet::decode(rest) {
        assert_eq!(packet.encode(), rest);
    }
});
