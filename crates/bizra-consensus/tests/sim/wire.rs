//! The engine's wire encoding, written again from its documentation (`engine::wire`), so that
//! the adversaries can forge, split and mangle messages, and the checks can read what honest
//! nodes signed. Nothing here calls the engine's own encoder.

use bizra_consensus::{ProposalBody, ValueId, VoteBody, VoteType};
use bizra_protocol::Identity;

pub const VOTE: u8 = 0x01;
pub const PROPOSAL: u8 = 0x02;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteMsg {
    pub height: u64,
    pub round: u32,
    pub precommit: bool,
    pub value: Option<[u8; 32]>,
    pub validator: [u8; 32],
    pub signature: [u8; 64],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalMsg {
    pub height: u64,
    pub round: u32,
    pub pol_round: Option<u32>,
    pub proposer: [u8; 32],
    pub signature: [u8; 64],
    pub batch: String,
}

pub fn kind(bytes: &[u8]) -> Option<u8> {
    (bytes.first() == Some(&1)).then(|| bytes.get(1).copied())?
}

fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

pub fn parse_vote(b: &[u8]) -> Option<VoteMsg> {
    if kind(b) != Some(VOTE) {
        return None;
    }
    let height = u64::from_be_bytes(arr(b, 2));
    let round = u32::from_be_bytes(arr(b, 10));
    let precommit = b[14] == 2;
    let (value, at) = if b[15] == 1 {
        (Some(arr(b, 16)), 48)
    } else {
        (None, 16)
    };
    Some(VoteMsg {
        height,
        round,
        precommit,
        value,
        validator: arr(b, at),
        signature: arr(b, at + 32),
    })
}

pub fn parse_proposal(b: &[u8]) -> Option<ProposalMsg> {
    if kind(b) != Some(PROPOSAL) {
        return None;
    }
    let pol = u32::from_be_bytes(arr(b, 14));
    let len = u32::from_be_bytes(arr(b, 114)) as usize;
    Some(ProposalMsg {
        height: u64::from_be_bytes(arr(b, 2)),
        round: u32::from_be_bytes(arr(b, 10)),
        pol_round: (pol != u32::MAX).then_some(pol),
        proposer: arr(b, 18),
        signature: arr(b, 50),
        batch: String::from_utf8(b[118..118 + len].to_vec()).ok()?,
    })
}

pub fn encode_vote(v: &VoteMsg) -> Vec<u8> {
    let mut out = vec![1, VOTE];
    out.extend_from_slice(&v.height.to_be_bytes());
    out.extend_from_slice(&v.round.to_be_bytes());
    out.push(if v.precommit { 2 } else { 1 });
    match &v.value {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            out.extend_from_slice(id);
        }
    }
    out.extend_from_slice(&v.validator);
    out.extend_from_slice(&v.signature);
    out
}

pub fn encode_proposal(p: &ProposalMsg) -> Vec<u8> {
    let mut out = vec![1, PROPOSAL];
    out.extend_from_slice(&p.height.to_be_bytes());
    out.extend_from_slice(&p.round.to_be_bytes());
    out.extend_from_slice(&p.pol_round.unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&p.proposer);
    out.extend_from_slice(&p.signature);
    out.extend_from_slice(&(p.batch.len() as u32).to_be_bytes());
    out.extend_from_slice(p.batch.as_bytes());
    out
}

/// Signs `v` (its signature field is replaced) as `id` in `federation`/`epoch`.
pub fn sign_vote(v: &mut VoteMsg, id: &Identity, federation: &str, epoch: u64) {
    let value = v.value.map(ValueId::from_bytes);
    let hex = id.public_key_hex();
    let body = VoteBody {
        federation,
        epoch,
        height: v.height,
        round: v.round,
        vote_type: if v.precommit {
            VoteType::Precommit
        } else {
            VoteType::Prevote
        },
        value: value.as_ref(),
        validator: &hex,
    };
    v.signature = body.sign(id);
}

/// Signs a proposal of `value` (its signature field is replaced).
pub fn sign_proposal(
    p: &mut ProposalMsg,
    value: &ValueId,
    id: &Identity,
    federation: &str,
    epoch: u64,
) {
    let hex = id.public_key_hex();
    let body = ProposalBody {
        federation,
        epoch,
        height: p.height,
        round: p.round,
        pol_round: p.pol_round,
        value,
        validator: &hex,
    };
    p.signature = body.sign(id);
}
