//! Consensus on a running node (a `bizra_node` started with `bizra_node_options.document`):
//! propose an envelope, read decisions and equivocation evidence from a stream
//! (`bizra_consensus_events`), fetch a decided height's certificate and batch, and see where
//! consensus stands. The core's `bizra::Node` runs the engine on its own thread; this file
//! converts types.
//!
//! Why these shapes (as for membership, `federation.rs`):
//! - events are polled (`bizra_consensus_events_next` with a timeout) rather than pushed through
//!   a callback, so no C code runs on the node's thread (but the custom gates of the chain the
//!   node was given) and a slow reader cannot stall consensus (the core drops, for that reader
//!   alone, what it leaves unread);
//! - an event carries what the core gives: a certificate as a `bizra_certificate` handle (so it
//!   verifies and serialises with the calls that exist), the batch as its canonical JSON (the
//!   bytes `bizra_certificate_verify_batch` checks), the evidence's two messages as bytes; one
//!   call, `bizra_consensus_event_free`, frees all of it;
//! - a node without consensus refuses every consensus call with `BIZRA_STATUS_INVALID_ARGUMENT`,
//!   a node that left or stopped with `BIZRA_STATUS_STOPPED`, which is also how a stream says it
//!   is over.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;
use std::time::Duration;

use bizra_core::{ConsensusEvent, Node, RecvError, Subscription};

use crate::*;

/// One subscriber's consensus events, in order (`bizra_node_subscribe_consensus`). Not safe to
/// share between threads at once: one thread at a time calls `bizra_consensus_events_next` (it
/// may be a different one each time). Valid after its node is freed (it then drains and reports
/// `BIZRA_STATUS_STOPPED`). Freed with `bizra_consensus_events_free`.
pub struct bizra_consensus_events {
    _opaque: [u8; 0],
}
handle_type!(bizra_consensus_events => Subscription<ConsensusEvent>, BoxedMut);

/// What a consensus event tells (`bizra_consensus_event.kind` takes these numbers;
/// `bizra_consensus_event_kind_name` gives their names).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bizra_consensus_event_kind {
    /// The federation decided a batch at a height, and this node stored it (`"decided"`).
    Decided = 0,
    /// A validator signed two conflicting messages (`"evidence"`).
    Evidence = 1,
}

impl bizra_consensus_event_kind {
    const ALL: [bizra_consensus_event_kind; 2] = [Self::Decided, Self::Evidence];

    fn name(self) -> &'static str {
        match self {
            Self::Decided => "decided",
            Self::Evidence => "evidence",
        }
    }
}

/// A consensus event. Its certificate, batch and evidence bytes belong to the event: free them
/// all with `bizra_consensus_event_free` (to keep the certificate, copy its pointer and set
/// `certificate` to NULL first; it is then yours, freed with `bizra_certificate_free`).
#[repr(C)]
#[derive(Debug)]
pub struct bizra_consensus_event {
    /// What it tells, a `bizra_consensus_event_kind`.
    pub kind: u32,
    /// The height decided, or at which the validator equivocated.
    pub height: u64,
    /// The round in which the height was decided, or in which the validator equivocated.
    pub round: u32,
    /// A decision's commit certificate (more than two thirds of the voting power precommitted
    /// the batch; verify it with `bizra_certificate_verify_batch`); NULL for evidence.
    pub certificate: *mut bizra_certificate,
    /// The decided batch, its canonical JSON (an array of `bizra.proposal` envelopes in ascending
    /// id order), NUL-terminated; NULL for evidence.
    pub batch_json: *mut c_char,
    /// The number of proposals in the batch (0 for evidence).
    pub proposals: usize,
    /// The equivocation, for evidence (check it with `bizra_evidence_verify`); all zero for a
    /// decision.
    pub evidence: bizra_evidence,
}

/// What a node's consensus engine has seen and done (a member of `bizra_consensus_status`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct bizra_consensus_engine_stats {
    /// Messages received from other validators.
    pub received: u64,
    /// Of those, refused before the consensus core (malformed, unknown signer, bad signature,
    /// past height, ...).
    pub refused: u64,
    /// Signatures the core asked about that did not verify.
    pub bad_signatures: u64,
    /// Messages broadcast.
    pub broadcasts: u64,
    /// Write-ahead-log records written.
    pub persisted: u64,
    /// Heights decided (by this node's votes or by catching up).
    pub decided: u64,
    /// Proposed batches the gate chain refused (this node prevoted nil on them).
    pub invalid_proposals: u64,
}

/// Where a node's consensus stands (`bizra_node_consensus_status`). Set `struct_size =
/// sizeof(...)` before the call; members are only ever added at the end.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_consensus_status {
    /// `sizeof(bizra_consensus_status)`, set by the caller (left as it is).
    pub struct_size: u32,
    /// The height being decided.
    pub height: u64,
    /// Its round.
    pub round: u32,
    /// The highest height decided and stored (0: none yet).
    pub decided: u64,
    /// Proposals pooled here, waiting for a batch.
    pub pending: usize,
    /// Whether this node votes (its key is a validator of the document); false for a follower.
    pub validator: bool,
    /// Peers (validators and followers) with an authenticated consensus link.
    pub linked: usize,
    /// Frames not sent because a link's queue was full.
    pub frames_dropped: u64,
    /// What the engine has seen and done.
    pub engine: bizra_consensus_engine_stats,
    /// Why consensus stopped on this node (its storage failed: it no longer votes, since it
    /// could not log first), or NULL while it runs. The caller's string: free it with
    /// `bizra_string_free`.
    pub failure: *mut c_char,
}

/// The words of a consensus call on a node started without a document.
const NO_CONSENSUS: &str =
    "this node takes no part in consensus (start it with bizra_node_options.document)";

/// `f` of the node behind a handle argument, if it takes part in consensus:
/// `BIZRA_STATUS_STOPPED` once it left or stopped, `BIZRA_STATUS_INVALID_ARGUMENT` without a
/// document.
fn with_consensus<T>(
    node: *const bizra_node,
    f: impl FnOnce(&Node) -> FfiResult<T>,
) -> FfiResult<T> {
    with_node(node, |n| {
        if n.consensus_status().is_none() {
            return Err(invalid(NO_CONSENSUS));
        }
        f(n)
    })?
}

/// A certificate as a new handle (the caller's).
fn certificate_handle(c: bizra_core::Certificate) -> FfiResult<*mut bizra_certificate> {
    let mut p = std::ptr::null_mut();
    bizra_certificate::put(&mut p, c)?;
    Ok(p)
}

impl bizra_consensus_event {
    /// The core's event as C gives it; the caller owns what it holds.
    fn of(e: ConsensusEvent) -> FfiResult<Self> {
        Ok(match e {
            ConsensusEvent::Decided { certificate, batch } => {
                // The fallible conversion first, so that nothing is left allocated on failure.
                let batch_json = c_string(batch.to_json())?;
                bizra_consensus_event {
                    kind: bizra_consensus_event_kind::Decided as u32,
                    height: certificate.height(),
                    round: certificate.round(),
                    proposals: batch.envelopes().len(),
                    certificate: certificate_handle(certificate)?,
                    batch_json,
                    evidence: bizra_evidence::none(),
                }
            }
            ConsensusEvent::Evidence(e) => bizra_consensus_event {
                kind: bizra_consensus_event_kind::Evidence as u32,
                height: e.height,
                round: e.round,
                certificate: std::ptr::null_mut(),
                batch_json: std::ptr::null_mut(),
                proposals: 0,
                evidence: bizra_evidence::of(e)?,
            },
        })
    }
}

/// Submits a `bizra.proposal` envelope (its payload's `"type"` is `"bizra.proposal"`) to
/// consensus: the node judges it with its gate chain, pools it and forwards it to the other
/// validators, and a later height decides it in a batch (watch
/// `bizra_node_subscribe_consensus`'s events). The envelope stays the caller's (the node keeps a
/// copy). On `BIZRA_STATUS_OK`, `*added` is true if it was pooled now, false if it was pooled or
/// decided already (nothing changes), and `*reject` (may be NULL) is 0. Refused: an envelope
/// that the gate chain refuses now is `BIZRA_STATUS_REJECTED` with its reject code in `*reject`
/// (`bizra_reject`: GATE_SNR for a low SNR, EXPIRED, ...); one that is not a proposal, a full
/// pool (it holds four batches' worth), a node whose consensus stopped (see
/// `bizra_consensus_status.failure`), or a node started without `opts.document` is
/// `BIZRA_STATUS_INVALID_ARGUMENT`; a node that left or stopped is `BIZRA_STATUS_STOPPED`; the
/// last error says which. Values: nothing to free.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_propose(
    node: *const bizra_node,
    env: *const bizra_envelope,
    added: *mut bool,
    reject: *mut u32,
) -> bizra_status {
    boundary("bizra_node_propose", || {
        let added = out(added, "added")?;
        let env = bizra_envelope::arg(env, "env")?;
        let pooled = with_consensus(node, |n| {
            n.propose(env.clone()).map_err(|e| {
                if let Some(code) = reject_of(&e) {
                    put_reject(reject, code);
                }
                Failure::from(e)
            })
        })?;
        put(added, pooled);
        put_reject(reject, 0);
        Ok(BIZRA_STATUS_OK)
    })
}

/// A decided height's commit certificate and batch, from this node's storage (what a
/// `BIZRA_CONSENSUS_EVENT_KIND_DECIDED` event gave for it, also after a restart). On
/// `BIZRA_STATUS_OK`, `*found` says whether this node has decided `height` (heights count from
/// 1), and only then are `*certificate` and `*batch_json` written. `*certificate` (may be NULL:
/// not wanted): a new certificate, the caller's; free it with `bizra_certificate_free`.
/// `*batch_json` (may be NULL: not wanted): the batch's canonical JSON, the caller's string; free
/// it with `bizra_string_free`. A node started without `opts.document` is
/// `BIZRA_STATUS_INVALID_ARGUMENT`; unreadable storage is `BIZRA_STATUS_IO`.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_decided(
    node: *const bizra_node,
    height: u64,
    found: *mut bool,
    certificate: *mut *mut bizra_certificate,
    batch_json: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_node_decided", || {
        let found = out(found, "found")?;
        let decided = with_consensus(node, |n| Ok(n.decided(height)?))?;
        let Some((cert, batch)) = decided else {
            put(found, false);
            return Ok(BIZRA_STATUS_OK);
        };
        // The fallible conversion first, so that nothing is left allocated on failure.
        let json = if batch_json.is_null() {
            None
        } else {
            Some(c_string(batch.to_json())?)
        };
        put(found, true);
        if let Some(json) = json {
            put(batch_json, json);
        }
        if !certificate.is_null() {
            bizra_certificate::put(certificate, cert)?;
        }
        Ok(BIZRA_STATUS_OK)
    })
}

/// Where the node's consensus stands, written to `*out`, whose `struct_size` the caller sets
/// first (`sizeof(bizra_consensus_status)`; smaller is `BIZRA_STATUS_INVALID_ARGUMENT`). Plain
/// values but `out->failure`: the caller's string when consensus stopped (NULL while it runs);
/// free it with `bizra_string_free`. A node started without `opts.document` is
/// `BIZRA_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_consensus_status(
    node: *const bizra_node,
    out: *mut bizra_consensus_status,
) -> bizra_status {
    boundary("bizra_node_consensus_status", || {
        let out = out_checked(out)?;
        // SAFETY: the C contract: `out` points to a `bizra_consensus_status` whose first member,
        // `struct_size`, the caller set.
        let size = unsafe { out.cast::<u32>().read() };
        let ours = std::mem::size_of::<bizra_consensus_status>();
        if (size as usize) < ours {
            return Err(invalid(format!(
                "out->struct_size is {size}, expected at least {ours} (set it to sizeof)"
            )));
        }
        let s = with_node(node, Node::consensus_status)?.ok_or_else(|| invalid(NO_CONSENSUS))?;
        let failure = match &s.failure {
            Some(f) => c_string(f.as_str())?,
            None => std::ptr::null_mut(),
        };
        put(
            out,
            bizra_consensus_status {
                struct_size: size,
                height: s.height,
                round: s.round,
                decided: s.decided,
                pending: s.pending,
                validator: s.validator,
                linked: s.linked,
                frames_dropped: s.frames_dropped,
                engine: bizra_consensus_engine_stats {
                    received: s.engine.received,
                    refused: s.engine.refused,
                    bad_signatures: s.engine.bad_signatures,
                    broadcasts: s.engine.broadcasts,
                    persisted: s.engine.persisted,
                    decided: s.engine.decided,
                    invalid_proposals: s.engine.invalid_proposals,
                },
                failure,
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Subscribes to the node's consensus events from now on, in order: a decision at each height
/// this node decides (earlier ones: `bizra_node_decided`), and equivocation evidence as it is
/// seen. Any number of subscribers each get every event; one that leaves more than 4096 unread
/// loses the newer ones. A node started without `opts.document` is
/// `BIZRA_STATUS_INVALID_ARGUMENT`. `*out`: a new stream, the caller's; free it with
/// `bizra_consensus_events_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_subscribe_consensus(
    node: *const bizra_node,
    out: *mut *mut bizra_consensus_events,
) -> bizra_status {
    boundary("bizra_node_subscribe_consensus", || {
        let out = out_checked(out)?;
        let events = with_consensus(node, |n| Ok(n.consensus_events()))?;
        bizra_consensus_events::put(out, events)
    })
}

/// Waits for the next consensus event, blocking the calling thread for at most `timeout_ms` (0:
/// only looks). On `BIZRA_STATUS_OK`, `*got` says whether an event came (a value: nothing to
/// free), and only then is `*out` written: the caller's, free what it holds with
/// `bizra_consensus_event_free`. Once the node left or stopped and every event was read, returns
/// `BIZRA_STATUS_STOPPED` (at once), so `while (bizra_consensus_events_next(...) ==
/// BIZRA_STATUS_OK)` reads a stream to its end.
#[no_mangle]
pub unsafe extern "C" fn bizra_consensus_events_next(
    events: *mut bizra_consensus_events,
    timeout_ms: u32,
    out: *mut bizra_consensus_event,
    got: *mut bool,
) -> bizra_status {
    boundary("bizra_consensus_events_next", || {
        let out = out_checked(out)?;
        let got = self::out(got, "got")?;
        let stream = bizra_consensus_events::arg_mut(events, "events")?;
        match stream.next_timeout(Duration::from_millis(timeout_ms.into())) {
            Ok(e) => {
                put(out, bizra_consensus_event::of(e)?);
                put(got, true);
            }
            Err(RecvError::Timeout) => put(got, false),
            Err(RecvError::Ended) => {
                return Err(Failure::new(
                    BIZRA_STATUS_STOPPED,
                    format!("{STOPPED}: every event was read"),
                ))
            }
        }
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees what a consensus event holds (its certificate, batch JSON and evidence bytes) and resets
/// those members to NULL and 0, so a second call is a no-op; the struct itself stays the
/// caller's. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_consensus_event_free(e: *mut bizra_consensus_event) {
    boundary("bizra_consensus_event_free", || {
        if e.is_null() {
            return Ok(());
        }
        let e = arg_mut(e, "e")?;
        bizra_certificate::free(std::mem::replace(&mut e.certificate, std::ptr::null_mut()))?;
        let json = std::mem::replace(&mut e.batch_json, std::ptr::null_mut());
        if !json.is_null() {
            // SAFETY: the C contract: a non-NULL `batch_json` came from `CString::into_raw` in
            // `bizra_consensus_events_next` and is freed once (this call resets it).
            drop(unsafe { CString::from_raw(json) });
        }
        e.proposals = 0;
        e.evidence.free();
        Ok(())
    })
}

/// Frees a consensus event stream (the node goes on). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_consensus_events_free(events: *mut bizra_consensus_events) {
    boundary("bizra_consensus_events_free", || {
        bizra_consensus_events::free(events)
    })
}

/// The name of a `bizra_consensus_event_kind` (`"decided"`, `"evidence"`), or NULL for a number
/// that is none. Static, owned by the library: never freed.
#[no_mangle]
pub extern "C" fn bizra_consensus_event_kind_name(kind: u32) -> *const c_char {
    boundary("bizra_consensus_event_kind_name", || {
        static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
        let all = names(
            &NAMES,
            &bizra_consensus_event_kind::ALL,
            bizra_consensus_event_kind::name,
        );
        Ok(name_at(all, kind))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kind_numbers_are_dense() {
        for (i, k) in bizra_consensus_event_kind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        assert!(bizra_consensus_event_kind_name(2).is_null());
    }

    /// An evidence event (which only a Byzantine validator makes happen, so no loopback suite
    /// sees one) carries the core's fields and bytes, and its free releases them once.
    #[test]
    fn an_evidence_event_carries_the_equivocation_and_frees_it() {
        use bizra_core::consensus::{Equivocation, EquivocationKind};
        let key = "ab".repeat(32);
        let core = Equivocation {
            validator: key.clone(),
            height: 9,
            round: 2,
            kind: EquivocationKind::Prevote,
            first: vec![1, 1, 7],
            second: vec![1, 1, 8, 9],
        };
        let Ok(mut e) = bizra_consensus_event::of(ConsensusEvent::Evidence(core.clone())) else {
            panic!("the event does not convert");
        };
        assert_eq!(e.kind, bizra_consensus_event_kind::Evidence as u32);
        assert_eq!((e.height, e.round, e.proposals), (9, 2, 0));
        assert!(e.certificate.is_null() && e.batch_json.is_null());
        let v = &e.evidence;
        let text: Vec<u8> = v.validator.iter().map(|&c| c as u8).collect();
        assert_eq!(&text[..64], key.as_bytes());
        assert_eq!(text[64], 0);
        assert_eq!((v.height, v.round), (9, 2));
        assert_eq!(v.step, bizra_evidence_step::Prevote as u32);
        // SAFETY: the event's bytes are live until its free.
        let (first, second) = unsafe {
            (
                std::slice::from_raw_parts(v.first.data, v.first.len),
                std::slice::from_raw_parts(v.second.data, v.second.len),
            )
        };
        assert_eq!((first, second), (&core.first[..], &core.second[..]));
        // SAFETY: a live event, freed twice (the second a no-op).
        unsafe {
            bizra_consensus_event_free(&mut e);
            assert!(e.evidence.first.data.is_null() && e.evidence.second.len == 0);
            bizra_consensus_event_free(&mut e);
        }
        // A key that does not fit is an internal error, with nothing left allocated.
        let long = Equivocation {
            validator: "a".repeat(65),
            ..core
        };
        assert!(bizra_consensus_event::of(ConsensusEvent::Evidence(long)).is_err());
    }
}
