//! near/mpc's P2P wire pinned to near's golden vectors (`../shared/oracles/p2p-vectors.json`,
//! produced by near's own code through `mpc-p2p-oracle vectors`): every packet layout, the
//! handshake bytes, and the certificates.
use ed25519_dalek::SigningKey;
use serde_json::Value;
use tdsigner_p2p::near::cert::{self, CertError, PeerRole};
use tdsigner_p2p::near::framing::{encode_frame, FrameReader};
use tdsigner_p2p::near::handshake::{replaces_incoming, Handshake, HandshakeError, Protocol};
use tdsigner_p2p::near::packet::*;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/oracles/p2p-vectors.json");
    let text = std::fs::read_to_string(path).expect("near's vectors in ../shared/oracles");
    serde_json::from_str(&text).expect("vectors are JSON")
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn uid(v: &Value) -> UniqueId {
    let n = |k: &str| v[k].as_u64().expect("number");
    UniqueId::new(n("participant_id") as u32, n("timestamp"), n("counter") as u32)
}

fn key_event(v: &Value) -> KeyEventId {
    let v = &v["key_event"];
    KeyEventId {
        epoch_id: v["epoch_id"].as_u64().unwrap(),
        domain_id: v["domain_id"].as_u64().unwrap(),
        attempt_id: v["attempt_id"].as_u64().unwrap(),
    }
}

fn request_id(v: &Value) -> RequestId {
    RequestId(unhex(v).try_into().expect("32 bytes"))
}

fn single(v: &Value) -> (&str, &Value) {
    let o = v.as_object().expect("externally tagged object");
    assert_eq!(o.len(), 1);
    let (k, v) = o.iter().next().unwrap();
    (k.as_str(), v)
}

/// An independent reading of near's JSON form (P2P.md §2.5) into our types.
fn task_from_json(v: &Value) -> MpcTaskId {
    let (family, inner) = single(v);
    let (variant, f) = single(inner);
    match (family, variant) {
        ("EcdsaTaskId", "KeyGeneration") => MpcTaskId::EcdsaTaskId(EcdsaTaskId::KeyGeneration { key_event: key_event(f) }),
        ("EcdsaTaskId", "KeyResharing") => MpcTaskId::EcdsaTaskId(EcdsaTaskId::KeyResharing { key_event: key_event(f) }),
        ("EcdsaTaskId", "ManyTriples") => MpcTaskId::EcdsaTaskId(EcdsaTaskId::ManyTriples {
            start: uid(&f["start"]),
            count: f["count"].as_u64().unwrap() as u32,
        }),
        ("EcdsaTaskId", "Presignature") => MpcTaskId::EcdsaTaskId(EcdsaTaskId::Presignature {
            id: uid(&f["id"]),
            domain_id: f["domain_id"].as_u64().unwrap(),
            paired_triple_id: uid(&f["paired_triple_id"]),
        }),
        ("EcdsaTaskId", "Signature") => MpcTaskId::EcdsaTaskId(EcdsaTaskId::Signature {
            id: request_id(&f["id"]),
            presignature_id: uid(&f["presignature_id"]),
        }),
        ("EddsaTaskId", "KeyGeneration") => MpcTaskId::EddsaTaskId(EddsaTaskId::KeyGeneration { key_event: key_event(f) }),
        ("EddsaTaskId", "KeyResharing") => MpcTaskId::EddsaTaskId(EddsaTaskId::KeyResharing { key_event: key_event(f) }),
        ("EddsaTaskId", "Signature") => MpcTaskId::EddsaTaskId(EddsaTaskId::Signature { id: request_id(&f["id"]) }),
        ("CKDTaskId", "KeyGeneration") => MpcTaskId::CkdTaskId(CkdTaskId::KeyGeneration { key_event: key_event(f) }),
        ("CKDTaskId", "KeyResharing") => MpcTaskId::CkdTaskId(CkdTaskId::KeyResharing { key_event: key_event(f) }),
        ("CKDTaskId", "Ckd") => MpcTaskId::CkdTaskId(CkdTaskId::Ckd { id: request_id(&f["id"]) }),
        ("RobustEcdsaTaskId", "KeyGeneration") => {
            MpcTaskId::RobustEcdsaTaskId(RobustEcdsaTaskId::KeyGeneration { key_event: key_event(f) })
        }
        ("RobustEcdsaTaskId", "KeyResharing") => {
            MpcTaskId::RobustEcdsaTaskId(RobustEcdsaTaskId::KeyResharing { key_event: key_event(f) })
        }
        ("RobustEcdsaTaskId", "Presignature") => MpcTaskId::RobustEcdsaTaskId(RobustEcdsaTaskId::Presignature {
            id: uid(&f["id"]),
            domain_id: f["domain_id"].as_u64().unwrap(),
        }),
        ("RobustEcdsaTaskId", "Signature") => MpcTaskId::RobustEcdsaTaskId(RobustEcdsaTaskId::Signature {
            id: request_id(&f["id"]),
            presignature_id: uid(&f["presignature_id"]),
        }),
        ("VerifyForeignTxTaskId", "VerifyForeignTx") => {
            MpcTaskId::VerifyForeignTxTaskId(VerifyForeignTxTaskId::VerifyForeignTx {
                id: request_id(&f["id"]),
                presignature_id: uid(&f["presignature_id"]),
            })
        }
        other => panic!("unknown task id {other:?}"),
    }
}

fn packet_from_json(v: &Value) -> Packet {
    if v == "Ping" {
        return Packet::Ping;
    }
    let (tag, inner) = single(v);
    match tag {
        "IndexerHeight" => Packet::IndexerHeight { height: inner["height"].as_u64().unwrap() },
        "MpcMessage" => {
            let kind = &inner["kind"];
            let kind = if kind == "Success" {
                MpcMessageKind::Success
            } else {
                match single(kind) {
                    ("Start", s) => MpcMessageKind::Start(MpcStartMessage {
                        task_id: task_from_json(&s["task_id"]),
                        participants: s["participants"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as u32).collect(),
                    }),
                    ("Computation", c) => MpcMessageKind::Computation(c.as_array().unwrap().iter().map(unhex).collect()),
                    ("Abort", a) => MpcMessageKind::Abort(a.as_str().unwrap().to_string()),
                    other => panic!("unknown kind {other:?}"),
                }
            };
            Packet::MpcMessage(MpcMessage { channel_id: uid(&inner["channel_id"]), kind })
        }
        other => panic!("unknown packet {other}"),
    }
}

#[test]
fn every_golden_packet_encodes_and_decodes_as_near_does() {
    let v = vectors();
    let packets = v["packets"].as_array().unwrap();
    assert_eq!(packets.len(), 21, "near's vector set: 21 packets");
    let mut labels = std::collections::BTreeSet::new();
    for p in packets {
        let name = p["name"].as_str().unwrap();
        let expected = packet_from_json(&p["json"]);
        let payload = unhex(&p["payload_hex"]);
        assert_eq!(expected.encode(), payload, "{name}: our encoding differs from near's");
        assert_eq!(Packet::decode(&payload).as_ref(), Ok(&expected), "{name}: decode");
        assert_eq!(encode_frame(&payload).unwrap(), unhex(&p["frame_hex"]), "{name}: frame");
        labels.insert(expected.label());
        // Trailing bytes and truncation are refused, as near's try_from_slice refuses them.
        let mut long = payload.clone();
        long.push(0);
        assert!(Packet::decode(&long).is_err(), "{name}: trailing byte accepted");
        if payload.len() > 1 {
            assert!(Packet::decode(&payload[..payload.len() - 1]).is_err(), "{name}: truncation accepted");
        }
    }
    assert_eq!(labels.len(), 6, "ping, indexer_height and the four MPC kinds");
}

#[test]
fn unique_id_is_big_endian_and_packs_its_fields() {
    let id = UniqueId::new(1, 1_700_000_000, 7);
    assert_eq!(borsh::to_vec(&id).unwrap(), hex::decode("00000001000000006553f10000000007").unwrap());
    assert_eq!((id.participant_id(), id.timestamp(), id.counter()), (1, 1_700_000_000, 7));
    assert_eq!(id.add_to_counter(63).unwrap().counter(), 70);
    assert_eq!(UniqueId::new(1, 2, u32::MAX).add_to_counter(1), None);
}

#[test]
fn malformed_payloads_are_refused() {
    assert!(Packet::decode(&[]).is_err());
    assert!(Packet::decode(&[3]).is_err(), "unknown packet tag");
    // An Abort whose text is not UTF-8.
    let mut abort = vec![1];
    abort.extend_from_slice(&UniqueId::new(1, 2, 3).0.to_be_bytes());
    abort.extend_from_slice(&[2, 2, 0, 0, 0, 0xff, 0xfe]);
    assert!(Packet::decode(&abort).is_err());
    // A Computation claiming 2^32-1 chunks in a short payload fails without allocating them.
    let mut comp = vec![1];
    comp.extend_from_slice(&[0u8; 16]);
    comp.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff]);
    assert!(Packet::decode(&comp).is_err());
}

#[test]
fn handshake_bytes_match_near_both_roles() {
    let v = vectors();
    let h = &v["handshake"];
    let mut dialer = Handshake::dialer(0);
    let mut listener = Handshake::listener(None);
    let hello = dialer.take_output();
    assert_eq!(hello, unhex(&h["dialer_hello"]));
    assert_eq!(listener.receive(&hello), Ok((5, None)));
    let reply = listener.take_output();
    assert_eq!(reply, unhex(&h["listener_hello_no_live_incoming_from_peer"]));
    // The listener's 9 bytes may arrive in one read; the dialer takes exactly 9.
    let (used, done) = dialer.receive(&[reply.as_slice(), &[0, 0, 0, 4, 0]].concat()).unwrap();
    assert_eq!(used, 9);
    let done = done.expect("dialer done");
    assert_eq!((done.protocol, done.sender_connection_id), (Protocol::Jan2026, 0));
    let id = dialer.take_output();
    assert_eq!(id, unhex(&h["dialer_connection_id_first_connection"]));
    let (used, done) = listener.receive(&[id.as_slice(), &[0, 0, 0, 1, 0]].concat()).unwrap();
    assert_eq!((used, done.unwrap().sender_connection_id), (4, 0));

    assert_eq!(Handshake::dialer(1).take_output(), unhex(&h["dialer_hello"]));
    let mut redial = Handshake::listener(Some(5));
    redial.receive(&hello).unwrap();
    assert_eq!(redial.take_output(), unhex(&h["listener_hello_live_incoming_with_sender_connection_id_5"]));
    assert_eq!(
        redial.receive(&5u32.to_be_bytes()),
        Err(HandshakeError::ConnectionIdTooLow { min_expected: 6, sender: 5 })
    );
    assert!(replaces_incoming(None, 0) && replaces_incoming(Some(5), 6) && !replaces_incoming(Some(5), 5));
}

#[test]
fn handshake_versions_and_magic_follow_near() {
    let v = vectors();
    let h = &v["handshake"];
    // A Dec2025 dialer: answered with our 5-byte hello only when nothing is live.
    let mut l = Handshake::listener(None);
    let (_, done) = l.receive(&unhex(&h["dec2025_hello"])).unwrap();
    assert_eq!(done.unwrap().protocol, Protocol::Dec2025);
    assert_eq!(l.take_output(), unhex(&h["listener_reply_to_dec2025_dialer_when_no_live_incoming"]));
    assert_eq!(Handshake::listener(Some(0)).receive(&unhex(&h["dec2025_hello"])), Err(HandshakeError::LegacyWhileConnected));
    // Versions 0..=6 refused with nothing written; 9 treated as 8.
    let mut old = Handshake::listener(None);
    assert_eq!(old.receive(&[0xcc, 0, 0, 0, 6]), Err(HandshakeError::UnsupportedVersion(6)));
    assert!(old.take_output().is_empty());
    let mut newer = Handshake::listener(None);
    newer.receive(&[0xcc, 0, 0, 0, 9]).unwrap();
    assert_eq!(newer.take_output().len(), 9);
    // The magic byte is checked before the rest arrives.
    assert_eq!(Handshake::listener(None).receive(&[0x16]), Err(HandshakeError::BadMagic(0x16)));
    let mut d = Handshake::dialer(0);
    d.take_output();
    assert_eq!(d.receive(&[0xcc, 0, 0, 0, 7]).unwrap().1.unwrap().protocol, Protocol::Dec2025);
    assert!(d.take_output().is_empty(), "a Dec2025 listener gets no connection id");
}

#[test]
fn dialer_plaintext_stream_is_nears() {
    let v = vectors();
    let mut stream = Handshake::dialer(0).take_output();
    stream.extend_from_slice(&0u32.to_be_bytes());
    stream.extend(encode_frame(&Packet::Ping.encode()).unwrap());
    stream.extend(encode_frame(&Packet::IndexerHeight { height: 123_456_789 }.encode()).unwrap());
    assert_eq!(stream, unhex(&v["handshake"]["dialer_plaintext_stream_example"]["hex"]));
    // The reader recovers both frames from the stream however it is split.
    let frames = &stream[9..];
    for split in 0..=frames.len() {
        let mut r = FrameReader::new(1 << 20);
        let mut got = r.push(&frames[..split]).unwrap();
        got.extend(r.push(&frames[split..]).unwrap());
        assert_eq!(got, vec![vec![0u8], Packet::IndexerHeight { height: 123_456_789 }.encode()]);
        assert_eq!(r.buffered(), 0);
    }
    let mut small = FrameReader::new(4);
    assert!(small.push(&[0, 0, 0, 5, 1]).is_err(), "over the reader's limit");
    assert!(small.push(&[0]).is_err(), "stays failed");
}

#[test]
fn certificates_are_byte_identical_to_nears() {
    let v = vectors();
    let tls = &v["tls"];
    assert_eq!(cert::ca_certificate(), unhex(&tls["dummy_ca"]["der_hex"]));
    for (name, seed) in [("leaf_for_key_A", [1u8; 32]), ("leaf_for_key_B", [2u8; 32])] {
        let key = SigningKey::from_bytes(&seed).verifying_key();
        let der = cert::node_certificate(&key);
        assert_eq!(der, unhex(&tls[name]["der_hex"]), "{name}");
        assert_eq!(cert::peer_key(&[&der], PeerRole::Server), Ok(key));
        assert_eq!(cert::peer_key(&[&der], PeerRole::Client), Ok(key));
        assert_eq!(cert::peer_key(&[&der, &der], PeerRole::Client), Err(CertError::ChainLength(2)));
        let mut forged = der.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(cert::peer_key(&[&forged], PeerRole::Client), Err(CertError::BadSignature));
    }
    // The CA's own certificate names `root`, not `dummy`: no server may present it.
    let ca = cert::ca_certificate();
    assert_eq!(cert::peer_key(&[&ca], PeerRole::Server), Err(CertError::MissingServerName));
    assert_eq!(cert::peer_key(&[b"not a certificate"], PeerRole::Client), Err(CertError::NotDer));
}
