//! One generation's state, shared by the backend's worker thread (which adds pieces) and the
//! JavaScript thread (everything else), and how a generation starts, stops and ends, for a
//! `Model`'s engine and a `Gateway` alike.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use bizra::inference::{
    CancelToken, Completion, Engine, Gateway, GenerateRequest, Served, TokenCallback,
};
use napi::bindgen_prelude::*;
use napi::{sys, Env};

use crate::convert::IterStep;
use crate::envelope::Envelope;
use crate::errors::{core_err, napi_err, panic_err, Failure, Result};
use crate::identity::identity_of;
use crate::tasks::{deferred, fail, off_thread, Abort, Deferred, JsRef};

/// What serves a generation: a model's engine, or a gateway that routes it to one of its tiers.
#[derive(Clone)]
pub(super) enum Backend {
    Engine(Engine),
    Gateway(Gateway),
}

/// A backend's completion, before it is signed.
enum Produced {
    Engine(Completion),
    Gateway(Box<Served>),
}

impl Backend {
    /// Serves `request` (blocking: on a job thread), streaming to `on_token` when given.
    fn complete(
        &self,
        request: &GenerateRequest,
        cancel: &CancelToken,
        on_token: Option<TokenCallback>,
    ) -> bizra::Result<Produced> {
        match self {
            Backend::Engine(e) => e
                .complete_with(request, cancel, on_token)
                .map(Produced::Engine),
            Backend::Gateway(g) => g
                .complete_with(request, cancel, on_token)
                .map(|s| Produced::Gateway(Box::new(s))),
        }
    }

    /// Signs what this backend produced for `request`.
    fn sign(
        &self,
        identity: &bizra::Identity,
        request: &GenerateRequest,
        produced: &Produced,
    ) -> bizra::Result<bizra::Envelope> {
        match (self, produced) {
            (Backend::Engine(e), Produced::Engine(c)) => e.sign(identity, request, c),
            (Backend::Gateway(g), Produced::Gateway(s)) => g.sign(identity, request, s),
            _ => Err(bizra::Error::Inference(
                "a completion signed by another backend than its own".into(),
            )),
        }
    }
}

/// A generation's checked arguments, ready to start.
pub(super) struct Prepared {
    pub(super) backend: Backend,
    pub(super) identity: JsRef,
    pub(super) request: GenerateRequest,
    pub(super) signal: Option<Object<'static>>,
}

impl Prepared {
    /// Starts the generation whose waiters are in `generation` (pieces too, with `stream`); a
    /// failure to start ends it with that error.
    pub(super) fn launch(
        self,
        env: &Env,
        generation: &Arc<Mutex<Generation>>,
        stream: bool,
    ) -> CancelToken {
        let cancel = CancelToken::new();
        let started = start(
            env,
            &self.backend,
            self.identity,
            self.request,
            self.signal.as_ref(),
            generation,
            &cancel,
            stream,
        );
        if let Err(e) = started {
            lock(generation).finish(Err(Failure::of(e)));
        }
        cancel
    }
}

/// An item of the async iterator: a piece of text, or, last, the signed envelope.
pub(super) enum Item {
    Piece(String),
    Envelope(Box<bizra::Envelope>),
}

impl ToNapiValue for Item {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        match val {
            Item::Piece(text) => unsafe { String::to_napi_value(env, text) },
            Item::Envelope(inner) => unsafe {
                Envelope::to_napi_value(env, Envelope::from(*inner))
            },
        }
    }
}

/// One step of the async iterator: `{ value, done }`.
pub(super) type Step = IterStep<Item>;

/// How a generation ended.
pub(super) enum Outcome {
    /// Its signed envelope (a stopped generation's too: `finish_reason: "cancelled"`).
    Signed(Box<bizra::Envelope>),
    Failed(Failure),
}

/// What the JavaScript side of one generation waits on.
#[derive(Default)]
pub(super) struct Generation {
    /// Pieces no `next()` has taken yet (streams only).
    pub(super) pieces: VecDeque<String>,
    /// `next()` calls waiting for a piece or the end, oldest first; never non-empty together
    /// with `pieces`.
    pub(super) next_waiters: VecDeque<Deferred<Step>>,
    /// `envelope()` calls (and `generate`'s Promise) waiting for the end.
    pub(super) envelope_waiters: Vec<Deferred<Envelope>>,
    pub(super) outcome: Option<Outcome>,
    /// The iterator has yielded the envelope, its last item.
    pub(super) envelope_yielded: bool,
    /// The iterator is done: it reported the end or an error, or `return()` was called.
    pub(super) closed: bool,
}

pub(super) fn lock(g: &Mutex<Generation>) -> MutexGuard<'_, Generation> {
    // Nothing panics while holding the lock; should it, the state is still usable.
    g.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Generation {
    /// A piece from the engine's worker thread: to the oldest waiting `next()`, else queued.
    /// Dropped once nobody will read it (`return()` was called).
    fn piece(&mut self, piece: &str) {
        if self.closed || self.outcome.is_some() {
            return;
        }
        match self.next_waiters.pop_front() {
            Some(d) => {
                let piece = piece.to_owned();
                d.resolve(Box::new(move |_| Ok(Step::Item(Item::Piece(piece)))));
            }
            None => self.pieces.push_back(piece.to_owned()),
        }
    }

    /// The end of generation: settles every waiter.
    pub(super) fn finish(&mut self, result: std::result::Result<Box<bizra::Envelope>, Failure>) {
        if self.outcome.is_some() {
            return;
        }
        let mut waiters = std::mem::take(&mut self.next_waiters).into_iter();
        if let Some(first) = waiters.next() {
            match &result {
                Ok(e) => {
                    let e = e.clone();
                    self.envelope_yielded = true;
                    first.resolve(Box::new(move |_| Ok(Step::Item(Item::Envelope(e)))));
                }
                Err(f) => {
                    self.closed = true;
                    fail(first, f.error());
                }
            }
        }
        for d in waiters {
            self.closed = true;
            d.resolve(Box::new(|_| Ok(Step::Done)));
        }
        for d in std::mem::take(&mut self.envelope_waiters) {
            match &result {
                Ok(e) => {
                    let inner = (**e).clone();
                    d.resolve(Box::new(move |_| Ok(Envelope::from(inner))));
                }
                Err(f) => fail(d, f.error()),
            }
        }
        self.outcome = Some(match result {
            Ok(e) => Outcome::Signed(e),
            Err(f) => Outcome::Failed(f),
        });
    }

    /// `return()`: the consumer is gone; pending `next()` calls end.
    pub(super) fn close(&mut self) {
        self.closed = true;
        self.pieces.clear();
        for d in std::mem::take(&mut self.next_waiters) {
            d.resolve(Box::new(|_| Ok(Step::Done)));
        }
    }
}

/// Starts a generation: the backend works on its thread, a job thread waits for the completion,
/// the JavaScript thread signs it and settles `generation`'s waiters. With `stream`, pieces go
/// to `generation` as they come. An aborted `signal` cancels it, already aborted or later.
#[allow(clippy::too_many_arguments)]
fn start(
    env: &Env,
    backend: &Backend,
    identity: JsRef,
    request: GenerateRequest,
    signal: Option<&Object>,
    generation: &Arc<Mutex<Generation>>,
    cancel: &CancelToken,
    stream: bool,
) -> Result<()> {
    let mut abort = None;
    if let Some(signal) = signal {
        if signal
            .get_named_property::<bool>("aborted")
            .map_err(napi_err)?
        {
            // The engine takes the request up and stops before its first token: the envelope
            // says so, as for a signal aborted later.
            cancel.cancel();
        } else {
            let cancel = cancel.clone();
            abort = Some(Abort::listen(env, signal, move || cancel.cancel())?);
        }
    }
    let (hop, _promise) = deferred::<()>(env)?;
    let on_token: Option<TokenCallback> = if stream {
        let g = Arc::clone(generation);
        Some(Box::new(move |piece: &str| lock(&g).piece(piece)))
    } else {
        None
    };
    let (work_backend, work_request, work_cancel) =
        (backend.clone(), request.clone(), cancel.clone());
    let backend = backend.clone();
    let generation = Arc::clone(generation);
    off_thread(
        env,
        hop,
        move || work_backend.complete(&work_request, &work_cancel, on_token),
        move |env, done| {
            // The hop's own Promise has no handler, so it must not reject: a panic here ends the
            // generation with code PANIC instead.
            let signed = catch_unwind(AssertUnwindSafe(|| {
                if let Some(abort) = abort {
                    let _ = abort.release(env);
                }
                done.and_then(|r| r.map_err(core_err))
                    .and_then(|c| sign(env, &identity, &backend, &request, &c))
            }))
            .unwrap_or_else(|p| Err(panic_err(&p)));
            lock(&generation).finish(signed.map(Box::new).map_err(Failure::of));
            Ok(())
        },
    );
    Ok(())
}

fn sign(
    env: &Env,
    identity: &JsRef,
    backend: &Backend,
    request: &GenerateRequest,
    produced: &Produced,
) -> Result<bizra::Envelope> {
    let id = identity_of(env, identity.get(env)?)?;
    backend.sign(&id.inner, request, produced).map_err(core_err)
}
