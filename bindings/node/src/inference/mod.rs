//! `Model` and `TokenStream`: the core's embedded llama.cpp engine, for Node.
//!
//! A load, a generation or an embedding waits on a thread of its own and comes back to the
//! JavaScript thread as a Promise (`tasks::off_thread`: why not libuv's pool is said there); the
//! engine computes on its own worker thread either way, one request at a time, in order.
//! Streamed pieces go from the engine's worker thread straight to the pending `next()` call.
//! The output is signed on the JavaScript thread once the completion arrives (`Engine::sign`),
//! so the identity's key stays inside its JavaScript object and no pointer to it crosses
//! threads; a signature takes microseconds.
//!
//! Stopping is one behaviour, however it is asked for: `stream.cancel()`, breaking out of a
//! `for await` loop, and an aborted `AbortSignal` (`AbortSignal.timeout` included) all stop the
//! generation at its next token, and the answer so far is still signed: `generate` resolves with
//! that envelope, a stream ends with it (`payload.finish_reason === "cancelled"`).
//!
//! - [`options`]: `Model.load`'s and `generate`/`stream`'s options, read strictly;
//! - [`generation`]: one generation's state, shared by the engine's thread and JavaScript's;
//! - [`model`]: `Model` (load, generate, stream, embed, metadata, dispose);
//! - [`stream`]: `TokenStream`, an async iterator of the pieces ending with the envelope;
//! - [`gateway`]: `Pool` (a remote OpenAI-compatible server) and `Gateway` (routes a request to
//!   the Edge, Local or Pool tier, with fallbacks; generates and streams as `Model` does).

pub mod gateway;
mod generation;
pub mod model;
mod options;
pub mod stream;
