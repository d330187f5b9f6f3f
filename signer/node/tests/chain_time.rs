//! `chain_time::verified_chain_head` against the chain simulator: the walk
//! reaches the simulator's light-client head with one call per epoch, lying
//! endpoints cannot hold it back while an honest one is asked, and every way
//! it can fail is its own error.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tdsigner_chain_sim::chain::ChainConfig;
use tdsigner_chain_sim::{HostileMode, ListenConfig, SimConfig, Simulator};
use tdsigner_near::rpc::net::UrlCaller;
use tdsigner_near::CryptoHash;
use tdsigner_node::chain_time::{verified_chain_head, ChainHead, ChainTimeError, WalkLimits, CHAIN_TIME_ALLOWANCE_SECS};

const EPOCH: u64 = 20;

/// A simulator that produces blocks only when told; listener modes in order
/// (the last one must be honest, for `common::trusted_start`).
fn sim(listeners: &[&[HostileMode]], genesis_secs: Option<u64>) -> Simulator {
    let mut chain = ChainConfig { seed: 7, validators: 4, epoch_length: EPOCH, block_time_ms: 500, ..ChainConfig::default() };
    if let Some(s) = genesis_secs {
        chain.genesis_timestamp_ns = s * 1_000_000_000;
    }
    let listen = listeners
        .iter()
        .map(|m| ListenConfig { addr: SocketAddr::from(([127, 0, 0, 1], 0)), hostile: m.to_vec() })
        .collect();
    let sim = Simulator::start(SimConfig { chain, listen, auto_produce: false, ..SimConfig::default() }).expect("simulator");
    sim.produce_blocks(EPOCH + 5);
    sim
}

/// The simulator's light-client head: (height, hash).
fn sim_head(sim: &Simulator) -> (u64, CryptoHash) {
    let v = common::call(sim, "sim_trusted_start", json!({}));
    let hash = CryptoHash::from_base58(v["block_hash"].as_str().expect("hash")).expect("hash");
    (v["height"].as_u64().expect("height"), hash)
}

fn caller(urls: Vec<String>) -> UrlCaller {
    UrlCaller::new(urls, Duration::from_secs(10), None)
}

fn urls(sim: &Simulator) -> Vec<String> {
    (0..sim.addrs().len()).map(|i| sim.url(i).expect("url")).collect()
}

fn walk(c: &mut UrlCaller, https: &[bool], sim: &Simulator, limits: WalkLimits) -> Result<ChainHead, ChainTimeError> {
    let anchor = common::trusted_start(sim);
    let start = Instant::now();
    let mut now = move || start.elapsed().as_millis() as u64;
    verified_chain_head(c, https, false, anchor, limits, &mut now)
}

/// A URL nothing listens on.
fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}/")
}

#[test]
fn six_epochs_take_one_call_each_and_end_at_the_simulators_head() {
    // Genesis in 2040, so the bound is the chain's time, not this host's.
    let genesis = 2_208_988_800u64;
    let s = sim(&[&[]], Some(genesis));
    let anchor = common::trusted_start(&s);
    s.produce_blocks(6 * EPOCH);
    let (height, hash) = sim_head(&s);
    let start = Instant::now();
    let head = verified_chain_head(&mut caller(urls(&s)), &[false], false, anchor.clone(), WalkLimits::default(), &mut || {
        start.elapsed().as_millis() as u64
    })
    .expect("walk");
    assert_eq!((head.state.head_height(), head.state.head_hash()), (height, hash));
    assert!((5..=7).contains(&head.steps), "{} steps for 6 epochs", head.steps);
    assert_eq!(head.calls, head.steps + 2, "one call per step, one that says nothing is newer, one for the final block");
    assert!(!head.authenticated, "plain HTTP only");
    assert_eq!(head.ended_by, 0);
    // The bound is the head's block time minus the allowance, in 2040.
    let ts = head.state.head().inner_lite.timestamp / 1_000_000_000;
    assert_eq!(head.head_secs(), ts);
    assert_eq!(head.lower_bound_secs(), ts - CHAIN_TIME_ALLOWANCE_SECS);
    assert!(ts > genesis && ts < genesis + 3600, "{ts}");
    assert!(anchor.head().inner_lite.timestamp / 1_000_000_000 < ts);
}

#[test]
fn an_anchor_at_the_head_takes_two_calls_and_one_in_its_epoch_three() {
    let s = sim(&[&[]], None);
    let head = walk(&mut caller(urls(&s)), &[false], &s, WalkLimits::default()).expect("walk");
    assert_eq!((head.steps, head.calls), (0, 2));
    let anchor = common::trusted_start(&s);
    s.produce_blocks(3);
    let start = Instant::now();
    let head = verified_chain_head(&mut caller(urls(&s)), &[false], false, anchor, WalkLimits::default(), &mut || {
        start.elapsed().as_millis() as u64
    })
    .expect("walk");
    assert_eq!((head.steps, head.calls), (1, 3));
    assert_eq!(head.state.head_hash(), sim_head(&s).1);
}

#[test]
fn forked_or_withheld_heads_do_not_hold_the_walk_back_while_an_honest_endpoint_is_asked() {
    for liar in [HostileMode::ForkedHeaders, HostileMode::WithheldHead] {
        let s = sim(&[&[liar], &[]], None);
        let anchor = common::trusted_start(&s);
        s.produce_blocks(4 * EPOCH);
        let start = Instant::now();
        let head = verified_chain_head(&mut caller(urls(&s)), &[false, false], false, anchor, WalkLimits::default(), &mut || {
            start.elapsed().as_millis() as u64
        })
        .unwrap_or_else(|e| panic!("{liar:?}: {e}"));
        assert_eq!(head.state.head_hash(), sim_head(&s).1, "{liar:?}");
        assert!(head.steps >= 3, "{liar:?}: {} steps", head.steps);
        assert_eq!(head.ended_by, 1, "{liar:?}");
    }
}

/// `withheld-head` answers `{}` for an anchor epochs old but its final block honestly:
/// the shape of an honest node that lacks the history asked about, too.
#[test]
fn nothing_newer_counts_only_from_an_endpoint_whose_final_block_is_in_the_heads_epoch() {
    let s = sim(&[&[HostileMode::WithheldHead], &[]], None);
    let anchor = common::trusted_start(&s);
    s.produce_blocks(3 * EPOCH);
    let (liar, honest) = (s.url(0).expect("url"), s.url(1).expect("url"));
    let start = Instant::now();
    let mut now = move || start.elapsed().as_millis() as u64;
    let walk = |urls: Vec<String>, https: &[bool], now: &mut dyn FnMut() -> u64| {
        verified_chain_head(&mut caller(urls), https, false, anchor.clone(), WalkLimits::default(), now)
    };
    // Alone, even marked https: its "nothing newer" is refused, so the anchor does not pass for current.
    for https in [false, true] {
        match walk(vec![liar.clone()], &[https], &mut now) {
            Err(ChainTimeError::NotEnded { steps: 0, failures }) => {
                assert_eq!(failures.len(), 1);
                assert!(failures[0].1.contains("its final block is in another epoch"), "{}", failures[0].1);
                assert!(failures[0].1.contains("use an archival endpoint"), "{}", failures[0].1);
            }
            other => panic!("https={https}: {other:?}"),
        }
    }
    // It as the only https endpoint, an honest plain one beside it: the head is reached, but
    // not confirmed by an endpoint the host cannot impersonate.
    match walk(vec![liar.clone(), honest.clone()], &[true, false], &mut now) {
        Err(ChainTimeError::NotEndedByHttps { steps, failures }) => {
            assert!(steps >= 2, "{steps}");
            assert_eq!(failures.iter().map(|f| f.0).collect::<Vec<_>>(), [0]);
        }
        other => panic!("{other:?}"),
    }
    // An https endpoint that fails, an honest plain one: the same refusal.
    match walk(vec![honest.clone(), closed_url()], &[false, true], &mut now) {
        Err(ChainTimeError::NotEndedByHttps { failures, .. }) => assert_eq!(failures.iter().map(|f| f.0).collect::<Vec<_>>(), [1]),
        other => panic!("{other:?}"),
    }
    // https endpoints are asked first whatever their place: the honest one (marked https)
    // walks and ends, the liar after it cannot take anything back.
    // (The liar, asked last at the head, says "nothing newer" truthfully then.)
    let head = walk(vec![liar.clone(), honest.clone()], &[false, true], &mut now).expect("walk");
    assert!(head.authenticated);
    assert!(head.steps >= 2, "{}", head.steps);
    assert_eq!(head.state.head_hash(), sim_head(&s).1);
}

#[test]
fn each_failure_is_its_own_error() {
    let s = sim(&[&[]], None);
    let anchor = common::trusted_start(&s);
    s.produce_blocks(5 * EPOCH);
    let start = Instant::now();
    let mut now = move || start.elapsed().as_millis() as u64;

    let few = WalkLimits { max_steps: 2, ..WalkLimits::default() };
    assert_eq!(
        verified_chain_head(&mut caller(urls(&s)), &[false], false, anchor.clone(), few, &mut now).unwrap_err(),
        ChainTimeError::TooManySteps { max: 2 }
    );

    assert_eq!(
        verified_chain_head(&mut caller(Vec::new()), &[], false, anchor.clone(), WalkLimits::default(), &mut now).unwrap_err(),
        ChainTimeError::NoEndpoints
    );

    let err = verified_chain_head(&mut caller(vec![closed_url(), closed_url()]), &[false, false], false, anchor.clone(), WalkLimits::default(), &mut now)
        .unwrap_err();
    match &err {
        ChainTimeError::NotEnded { steps: 0, failures } => assert_eq!(failures.iter().map(|f| f.0).collect::<Vec<_>>(), [0, 1]),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("no endpoint confirmed the chain's head (0 blocks verified) (endpoint 0: "), "{err}");

    let mut frozen = || 0u64;
    assert!(verified_chain_head(&mut caller(urls(&s)), &[false], false, anchor.clone(), WalkLimits::default(), &mut frozen).is_ok());
    // The clock jumps past the total limit after the walk started.
    let mut first = true;
    let mut jump = move || if std::mem::take(&mut first) { 0 } else { u64::MAX };
    assert_eq!(
        verified_chain_head(&mut caller(urls(&s)), &[false], false, anchor.clone(), WalkLimits::default(), &mut jump).unwrap_err(),
        ChainTimeError::TimeLimit { limit_ms: WalkLimits::default().total_ms, steps: 0 }
    );

    // TDX demands an https endpoint; plain HTTP alone is refused before any call.
    assert_eq!(
        verified_chain_head(&mut caller(urls(&s)), &[false], true, anchor.clone(), WalkLimits::default(), &mut now).unwrap_err(),
        ChainTimeError::NoHttpsEndpoint
    );
    let mut marked = caller(vec![s.url(0).expect("url")]);
    // (The flag is the caller's knowledge of the URL scheme; the transport here is plain.)
    assert!(verified_chain_head(&mut marked, &[true], true, anchor.clone(), WalkLimits::default(), &mut now).expect("walk").authenticated);

    // Only the head's own epoch known: nothing past it can be verified.
    let current = anchor.current_producers().expect("current").clone();
    let bare = tdsigner_near::LightClientState::from_trusted_header(anchor.head().clone(), current).expect("state");
    assert_eq!(
        verified_chain_head(&mut caller(urls(&s)), &[false], false, bare, WalkLimits::default(), &mut now).unwrap_err(),
        ChainTimeError::AnchorWithoutNextProducers
    );
}
