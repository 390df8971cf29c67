//! Who may join a federation.

use std::collections::HashSet;

/// The admission rule of a federation: checked on every datagram's sender and on every member a
/// datagram names, so a node that is not admitted never appears in anyone's member list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Admission {
    /// Any node key may join.
    #[default]
    Open,
    /// Only these node keys (a federation's validators, say) may join.
    Allowlist(HashSet<[u8; 32]>),
}

impl Admission {
    /// An allowlist of node keys.
    pub fn allow(keys: impl IntoIterator<Item = [u8; 32]>) -> Self {
        Admission::Allowlist(keys.into_iter().collect())
    }

    /// Whether `key` may take part.
    pub fn admits(&self, key: &[u8; 32]) -> bool {
        match self {
            Admission::Open => true,
            Admission::Allowlist(keys) => keys.contains(key),
        }
    }
}
