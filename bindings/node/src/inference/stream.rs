//! `TokenStream`: a running generation as an async iterator.

use std::sync::{Arc, Mutex};

use bizra::inference::CancelToken;
use napi::Env;
use napi_derive::napi;

use super::generation::{lock, Generation, Item, Outcome, Step};
use crate::convert::JsObject;
use crate::envelope::Envelope;
use crate::errors::{guard, Result};
use crate::tasks::{deferred, rejected, resolved};

/// A running generation, as an async iterator of its string pieces (they concatenate to the
/// envelope's `payload.output`) ending with the signed envelope. Made by `model.stream`.
///
/// - `for await (const item of stream)`: the pieces, then the `Envelope` as the last item.
/// - `await stream.envelope()`: the same envelope, once generation ends (pieces not yet read
///   stay readable).
/// - `stream.cancel()`, or an aborted `signal`, stops generation at the next token; the iteration
///   then ends normally, with the envelope of the answer so far (`finish_reason: "cancelled"`).
/// - Breaking out of the loop (`return()`, also `await using`'s disposal) stops generation too;
///   `envelope()` still resolves.
///
/// A stream nobody reads or cancels runs to its end (`maxTokens`).
#[napi]
pub struct TokenStream {
    pub(super) generation: Arc<Mutex<Generation>>,
    pub(super) cancel: CancelToken,
}

#[napi]
impl TokenStream {
    /// The next item: `{ value: piece, done: false }`, then `{ value: envelope, done: false }`,
    /// then `{ value: undefined, done: true }`. Rejects with the generation's error, once.
    #[napi(ts_return_type = "Promise<IteratorResult<string | Envelope, undefined>>")]
    pub fn next(&self, env: Env) -> Result<JsObject> {
        guard(|| {
            let mut g = lock(&self.generation);
            if let Some(piece) = g.pieces.pop_front() {
                return resolved(&env, Step::Item(Item::Piece(piece)));
            }
            if g.closed {
                return resolved(&env, Step::Done);
            }
            match &g.outcome {
                None => {
                    let (d, promise) = deferred::<Step>(&env)?;
                    g.next_waiters.push_back(d);
                    Ok(promise)
                }
                Some(Outcome::Signed(_)) if g.envelope_yielded => {
                    g.closed = true;
                    resolved(&env, Step::Done)
                }
                Some(Outcome::Signed(e)) => {
                    let e = e.clone();
                    g.envelope_yielded = true;
                    resolved(&env, Step::Item(Item::Envelope(e)))
                }
                Some(Outcome::Failed(f)) => {
                    let e = f.error();
                    g.closed = true;
                    rejected(&env, e)
                }
            }
        })
    }

    /// Ends the iteration (what `break` in a `for await` loop calls) and stops generation.
    #[napi(
        js_name = "return",
        ts_args_type = "value?: unknown",
        ts_return_type = "Promise<IteratorResult<string | Envelope, undefined>>"
    )]
    pub fn finish(&self, env: Env) -> Result<JsObject> {
        guard(|| {
            self.cancel.cancel();
            lock(&self.generation).close();
            resolved(&env, Step::Done)
        })
    }

    /// Stops generation at its next token; the pieces so far and the envelope (`finish_reason:
    /// "cancelled"`) remain.
    #[napi]
    pub fn cancel(&self) -> Result<()> {
        guard(|| {
            self.cancel.cancel();
            Ok(())
        })
    }

    /// The signed envelope, once generation ends; rejects with the generation's error.
    #[napi(ts_return_type = "Promise<Envelope>")]
    pub fn envelope(&self, env: Env) -> Result<JsObject> {
        guard(|| {
            let mut g = lock(&self.generation);
            match &g.outcome {
                None => {
                    let (d, promise) = deferred::<Envelope>(&env)?;
                    g.envelope_waiters.push(d);
                    Ok(promise)
                }
                Some(Outcome::Signed(e)) => resolved(&env, Envelope::from((**e).clone())),
                Some(Outcome::Failed(f)) => rejected(&env, f.error()),
            }
        })
    }
}
