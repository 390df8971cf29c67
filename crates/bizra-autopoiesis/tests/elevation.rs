//! Elevation without a federation: the policy, the candidates, local elevation, and the
//! proposal a node would send.

mod support;

use bizra_autopoiesis::elevation::{DEFAULT_ELEVATION_THRESHOLD, DEFAULT_MIN_OBSERVATIONS};
use bizra_autopoiesis::{Elevation, ElevationPolicy, PatternId, Store};
use bizra_protocol::{Constitution, Envelope, Identity, VerifyOptions};
use serde_json::json;

/// A `bizra.pattern` envelope with a stated SNR, as a measured output carries.
fn measured(id: &Identity, content: &str) -> Envelope {
    Envelope::builder(json!({"type": "bizra.pattern", "content": content}))
        .snr(0.9)
        .sign(id)
        .unwrap()
}

/// Learns `content` from `observations` distinct envelopes, then gives `positive` feedback.
fn settle(store: &Store, content: &str, observations: usize, positive: usize) -> PatternId {
    let id = Identity::generate();
    let mut pid = 0;
    for _ in 0..observations {
        pid = store
            .learn(
                &measured(&id, content),
                &[1.0, 0.5],
                &[],
                &VerifyOptions::default(),
            )
            .unwrap()
            .id();
    }
    for _ in 0..positive {
        store.feedback(pid, true).unwrap();
    }
    pid
}

#[test]
fn the_policy_follows_the_constitution() {
    let d = ElevationPolicy::default();
    assert_eq!(d.threshold, DEFAULT_ELEVATION_THRESHOLD);
    assert_eq!(d.min_observations, DEFAULT_MIN_OBSERVATIONS);
    let c = Constitution::default();
    let p = ElevationPolicy::from_constitution(&c);
    assert_eq!(p.threshold, c.ihsan_minimum());
    assert_eq!(p.min_observations, DEFAULT_MIN_OBSERVATIONS);
}

#[test]
fn a_pattern_needs_both_confidence_and_observations() {
    let store = Store::in_memory().unwrap();
    let policy = ElevationPolicy::default();
    let confident_but_rare = settle(&store, "rare", 2, 10);
    let common_but_doubtful = settle(&store, "doubtful", 5, 8); // 0.5 + 8·0.05 = 0.9
    assert!(store.elevation_candidates(&policy).unwrap().is_empty());
    assert!(store.elevate_local(&policy).unwrap().is_empty());

    // One more envelope carrying the rare content makes it eligible; the other needs feedback.
    let id = Identity::generate();
    store
        .learn(
            &measured(&id, "rare"),
            &[1.0, 0.5],
            &[],
            &VerifyOptions::default(),
        )
        .unwrap();
    let candidates = store.elevation_candidates(&policy).unwrap();
    assert_eq!(
        candidates.iter().map(|p| p.id).collect::<Vec<_>>(),
        [confident_but_rare]
    );
    assert!(policy.admits(&candidates[0]));
    assert!(!policy.admits(&store.get(common_but_doubtful).unwrap().unwrap()));

    assert_eq!(store.elevate_local(&policy).unwrap(), [confident_but_rare]);
    assert_eq!(
        store.get(confident_but_rare).unwrap().unwrap().elevation,
        Elevation::Local
    );
    // Done once: elevating again changes nothing.
    assert!(store.elevate_local(&policy).unwrap().is_empty());
    let elevated = store.elevated().unwrap();
    assert_eq!(elevated.len(), 1);
    assert!(elevated[0].elevation.is_elevated());
    assert!(!store
        .get(common_but_doubtful)
        .unwrap()
        .unwrap()
        .elevation
        .is_elevated());

    // A locally elevated pattern is still a candidate for the federation's certificate.
    assert_eq!(store.elevation_candidates(&policy).unwrap().len(), 1);
}

#[test]
fn negative_feedback_keeps_a_pattern_below_the_threshold() {
    let store = Store::in_memory().unwrap();
    let pid = settle(&store, "contested", 3, 10);
    store.feedback(pid, false).unwrap(); // 1.0 − 0.03
    store.feedback(pid, false).unwrap(); // 0.94
    let strict = ElevationPolicy::default();
    assert!(store.elevate_local(&strict).unwrap().is_empty());
    let lenient = ElevationPolicy {
        threshold: 0.9,
        min_observations: 3,
    };
    assert_eq!(store.elevate_local(&lenient).unwrap(), [pid]);
}

#[cfg(feature = "federation")]
mod proposal {
    use super::*;
    use bizra_autopoiesis::federation::{is_elevation_proposal, ELEVATE_ACTION};
    use bizra_autopoiesis::{elevation_proposal, PatternPayload};
    use bizra_protocol::ErrorKind;

    #[test]
    fn a_proposal_carries_the_pattern_its_origin_and_scores_the_gates_judge() {
        let store = Store::in_memory().unwrap();
        let pid = settle(&store, "water boils at 100 °C at sea level", 3, 10);
        let pattern = store.get(pid).unwrap().unwrap();
        let node = Identity::generate();
        let proposal = elevation_proposal(&pattern, &node).unwrap();
        proposal.verify(&VerifyOptions::default()).unwrap();
        assert!(is_elevation_proposal(&proposal));
        assert_eq!(proposal.sender(), node.node_id());
        let payload = proposal.payload();
        assert_eq!(payload["type"], "bizra.proposal");
        assert_eq!(payload["action"], ELEVATE_ACTION);
        let stated = PatternPayload::from_value(&payload["pattern"]).unwrap();
        assert_eq!(stated.content, pattern.content);
        assert_eq!(stated.confidence, Some(pattern.confidence));
        assert_eq!(stated.embedding.as_deref(), Some(&pattern.embedding[..]));
        let origin = Envelope::from_value(payload["origin"].clone()).unwrap();
        assert_eq!(origin.id(), pattern.envelope_id);
        assert_eq!(proposal.scores().snr, Some(0.9));
        assert_eq!(proposal.scores().ihsan, Some(pattern.confidence));
    }

    #[test]
    fn a_pattern_whose_origin_states_no_snr_cannot_be_proposed() {
        let store = Store::in_memory().unwrap();
        let id = Identity::generate();
        let env = support::pattern_envelope(&id, "unmeasured");
        let pid = store
            .learn(&env, &[1.0], &[], &VerifyOptions::default())
            .unwrap()
            .id();
        let e = elevation_proposal(&store.get(pid).unwrap().unwrap(), &id).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let msg = e.to_string();
        assert!(
            msg.contains("states no SNR") && msg.contains(env.id()),
            "{msg}"
        );
    }
}
