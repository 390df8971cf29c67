#![allow(dead_code)] // Each target uses its part.
//! The consensus vectors' federation document and batches, read once: what certificates and
//! evidence are checked against.

use std::sync::OnceLock;

use bizra_consensus::{Batch, FederationDocument};

const VECTORS: &str = include_str!("../../tests/vectors/consensus-v1-vectors.json");

pub struct Fixtures {
    pub document: FederationDocument,
    pub batches: Vec<Batch>,
}

pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(VECTORS).expect("the vectors");
        let document =
            FederationDocument::from_json(v["documents"]["equal"]["json"].as_str().unwrap())
                .expect("the vectors' document");
        let batches = v["batches"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| Batch::from_json(b["json"].as_str()?).ok())
            .collect();
        Fixtures { document, batches }
    })
}
