//! An engine whose worker is held mid-generation, so that a test fills its queue exactly when it
//! says: the generation's first token callback waits until [`Held::release`].
//!
//! The including suite imports `CancelToken`, `Engine`, `GenerateRequest` and
//! `TokenCallback` (from `bizra_inference` and `bizra_protocol`, or from the `bizra` facade).

#![allow(dead_code)] // Each suite uses its part.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{CancelToken, Engine, GenerateRequest, TokenCallback};

/// A generation that holds its engine's worker.
pub struct Held {
    release: mpsc::Sender<()>,
    holder: JoinHandle<()>,
}

/// Starts `request` (which must produce a token) on `engine` and returns once its first token
/// callback holds the worker. The engine must take it at once: a BUSY here fails the test.
pub fn hold(engine: &Engine, request: &GenerateRequest) -> Held {
    let (held_tx, held) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let (engine, request) = (engine.clone(), request.clone());
    let holder = std::thread::spawn(move || {
        let mut first = true;
        let callback: TokenCallback = Box::new(move |_piece: &str| {
            if std::mem::take(&mut first) {
                let _ = held_tx.send(());
                let _ = released.recv();
            }
        });
        let done = engine.complete_with(&request, &CancelToken::new(), Some(callback));
        assert!(done.is_ok(), "the held generation failed: {done:?}");
    });
    held.recv_timeout(Duration::from_secs(120))
        .expect("the held generation reached its first token");
    Held { release, holder }
}

impl Held {
    /// Lets the generation finish, and waits for it.
    pub fn release(self) {
        self.release.send(()).unwrap();
        self.holder.join().unwrap();
    }
}
