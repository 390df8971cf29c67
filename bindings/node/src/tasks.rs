//! Work off the JavaScript thread, in one place, and the Promises it settles.
//!
//! Two kinds of work, two places to run it:
//! - short, CPU-bound batches (`verifyBatch`) run on libuv's pool as a napi-rs `AsyncTask`
//!   ([`PoolTask`]);
//! - long waits (a model load, a generation that waits in the engine's queue and then generates
//!   for seconds, an embedding) run on threads of their own ([`off_thread`]): an `AsyncTask` would
//!   hold one of libuv's four pool threads all that time, so four pending generations would stall
//!   every `fs`, `dns`, `crypto` and `zlib` call of the host process. They come back to the
//!   JavaScript thread through a napi-rs deferred (a thread-safe function underneath, which
//!   napi-rs releases safely should the environment tear down first).
//!
//! Either way the work runs under `catch_unwind`: a panic rejects its Promise with code `PANIC`,
//! as a panic in any export throws one. JavaScript values that travel with the work are held by
//! [`JsRef`], which touches them only on their own thread.
//!
//! Also here, as they concern what keeps work (and the process) going: [`Abort`], an
//! `AbortSignal` wired to whatever stops a piece of work, and [`KeepAlive`], which holds the event
//! loop open for as long as a long-lived handle (a federation node) is open.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::mpsc;
use std::thread::{self, ThreadId};

use bizra::ErrorKind;
use napi::bindgen_prelude::*;
use napi::{sys, Env, JsDeferred, JsValue};

use crate::convert::JsObject;
use crate::errors::{internal, js_error, kind_err, napi_err, panic_err, Failure, Result};

// ---------------------------------------------------------------------------------------------
// libuv's pool

/// A closure run on libuv's pool; its Promise resolves to what it returns, or rejects with code
/// `PANIC` should it panic.
pub struct PoolTask<T> {
    work: Option<Box<dyn FnOnce() -> T + Send>>,
}

impl<T> PoolTask<T> {
    pub(crate) fn new(work: impl FnOnce() -> T + Send + 'static) -> AsyncTask<Self>
    where
        T: Send + ToNapiValue + TypeName + 'static,
    {
        AsyncTask::new(PoolTask {
            work: Some(Box::new(work)),
        })
    }
}

impl<T: Send + ToNapiValue + TypeName + 'static> Task for PoolTask<T> {
    type Output = std::result::Result<T, Failure>;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let Some(work) = self.work.take() else {
            return Ok(Err(Failure::of(internal("a pool task ran twice"))));
        };
        Ok(catch_unwind(AssertUnwindSafe(work)).map_err(|p| Failure::of(panic_err(&p))))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<T> {
        output.map_err(|f| js_error(&env, f.error()))
    }
}

// ---------------------------------------------------------------------------------------------
// Threads of our own, and the Promises they settle

/// What a napi deferred runs on the JavaScript thread to settle its Promise.
pub(crate) type Settle<V> = Box<dyn FnOnce(Env) -> napi::Result<V>>;
/// A Promise that any thread may settle; it must be settled exactly once (an unsettled one would
/// keep the event loop alive for ever).
pub(crate) type Deferred<V> = JsDeferred<V, Settle<V>>;

pub(crate) fn deferred<V: ToNapiValue>(env: &Env) -> Result<(Deferred<V>, JsObject)> {
    let (d, promise) = env.create_deferred::<V, Settle<V>>().map_err(napi_err)?;
    Ok((d, JsObject(promise.raw())))
}

/// Settles with our error (its code intact), from any thread.
pub(crate) fn fail<V: ToNapiValue + 'static>(d: Deferred<V>, e: napi::Error<String>) {
    d.resolve(Box::new(move |env| Err(js_error(&env, e))));
}

/// A Promise already resolved with `value`.
pub(crate) fn resolved<T: ToNapiValue>(env: &Env, value: T) -> Result<JsObject> {
    PromiseRaw::resolve(env, value)
        .map(|p| JsObject(p.raw()))
        .map_err(napi_err)
}

/// A Promise already rejected with our error.
pub(crate) fn rejected(env: &Env, e: napi::Error<String>) -> Result<JsObject> {
    PromiseRaw::<()>::reject(env, js_error(env, e))
        .map(|p| JsObject(p.raw()))
        .map_err(napi_err)
}

/// Runs `work` on a thread of its own, then `then` on the JavaScript thread with its outcome
/// (`Err`: `work` panicked, or no thread could be started), and settles `deferred` with what
/// `then` returns. While it runs, the deferred keeps the event loop alive, as a pending `fs` call
/// does.
pub(crate) fn off_thread<T, V, W, F>(env: &Env, deferred: Deferred<V>, work: W, then: F)
where
    T: Send + 'static,
    V: ToNapiValue + 'static,
    W: FnOnce() -> T + Send + 'static,
    F: FnOnce(&Env, std::result::Result<T, napi::Error<String>>) -> napi::Result<V>
        + Send
        + 'static,
{
    // The deferred and `then` reach the thread only once it exists: if it cannot be started,
    // they are still here to settle the Promise.
    let (tx, rx) = mpsc::sync_channel::<(Deferred<V>, F)>(1);
    let spawned = thread::Builder::new()
        .name("bizra-node-job".into())
        .spawn(move || {
            let Ok((deferred, then)) = rx.recv() else {
                return;
            };
            let done = catch_unwind(AssertUnwindSafe(work)).map_err(|p| panic_err(&p));
            deferred.resolve(Box::new(move |env| {
                catch_unwind(AssertUnwindSafe(|| then(&env, done)))
                    .unwrap_or_else(|p| Err(js_error(&env, panic_err(&p))))
            }));
        });
    let failed = match spawned {
        Ok(_) => match tx.send((deferred, then)) {
            Ok(()) => return,
            Err(mpsc::SendError(pair)) => (pair, "the job thread stopped".to_owned()),
        },
        Err(e) => ((deferred, then), format!("cannot start a thread: {e}")),
    };
    let ((deferred, then), why) = failed;
    let settled = then(env, Err(kind_err(ErrorKind::Inference, why)));
    deferred.resolve(Box::new(move |_| settled));
}

/// A strong reference to a JavaScript value, made on the JavaScript thread. It may travel inside
/// a job to another thread and back, but is read and released only on the thread that made it;
/// dropped anywhere else (the environment tore down with the job in flight) it is leaked rather
/// than touched from the wrong thread.
pub(crate) struct JsRef {
    env: sys::napi_env,
    raw: sys::napi_ref,
    owner: ThreadId,
}

// SAFETY: the napi handles are used only on `owner`, which `get` and `drop` check.
unsafe impl Send for JsRef {}

impl JsRef {
    pub(crate) fn new(env: &Env, value: sys::napi_value) -> Result<Self> {
        let mut raw = ptr::null_mut();
        let status = unsafe { sys::napi_create_reference(env.raw(), value, 1, &mut raw) };
        if status != sys::Status::napi_ok {
            return Err(internal("cannot keep a reference to a JavaScript value"));
        }
        Ok(JsRef {
            env: env.raw(),
            raw,
            owner: thread::current().id(),
        })
    }

    pub(crate) fn get<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
        let mut value = ptr::null_mut();
        if thread::current().id() != self.owner
            || env.raw() != self.env
            || unsafe { sys::napi_get_reference_value(self.env, self.raw, &mut value) }
                != sys::Status::napi_ok
            || value.is_null()
        {
            return Err(internal("a JavaScript value is out of reach"));
        }
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
    }
}

impl Drop for JsRef {
    fn drop(&mut self) {
        if thread::current().id() == self.owner {
            unsafe { sys::napi_delete_reference(self.env, self.raw) };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Abort signals, and what keeps the event loop alive

/// An `AbortSignal` wired to a piece of work: its 'abort' listener runs `on_abort` (on the
/// JavaScript thread), which stops the work: a generation's cancel token, a subscription's end.
pub(crate) struct Abort {
    signal: JsRef,
    listener: JsRef,
}

impl Abort {
    pub(crate) fn listen(
        env: &Env,
        signal: &Object,
        on_abort: impl Fn() + Send + 'static,
    ) -> Result<Self> {
        let listener = env
            .create_function_from_closure::<(), (), _>("bizraAbort", move |_| {
                on_abort();
                Ok(())
            })
            .map_err(napi_err)?;
        let add: Function<FnArgs<(&str, Unknown)>, Unknown> = signal
            .get_named_property("addEventListener")
            .map_err(napi_err)?;
        add.apply(signal, ("abort", listener.to_unknown()).into())
            .map_err(napi_err)?;
        Ok(Abort {
            signal: JsRef::new(env, signal.raw())?,
            listener: JsRef::new(env, listener.raw())?,
        })
    }

    /// Removes the listener once the work is over: a long-lived signal (one per server, say)
    /// would otherwise collect one per request, and Node warns past ten.
    pub(crate) fn release(self, env: &Env) -> Result<()> {
        let signal = Object::from_raw(env.raw(), self.signal.get(env)?.raw());
        let remove: Function<FnArgs<(&str, Unknown)>, Unknown> = signal
            .get_named_property("removeEventListener")
            .map_err(napi_err)?;
        remove
            .apply(signal, ("abort", self.listener.get(env)?).into())
            .map_err(napi_err)?;
        Ok(())
    }
}

/// Holds the event loop open while it lives, as an open socket or a listening server does: a
/// napi deferred (a thread-safe function underneath, which keeps the loop alive until it is
/// released) whose Promise nobody sees, settled when this is dropped. Settling is thread-safe
/// and touches no JavaScript value, so a `KeepAlive` may be dropped on any thread, or by a
/// finalizer during garbage collection.
pub(crate) struct KeepAlive(Option<Deferred<()>>);

impl KeepAlive {
    pub(crate) fn new(env: &Env) -> Result<Self> {
        let (d, _promise) = deferred::<()>(env)?;
        Ok(KeepAlive(Some(d)))
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            d.resolve(Box::new(|_| Ok(())));
        }
    }
}
