//! Hooks for the test suite, only in the test build: the `test-hooks` feature, which
//! `make test-node` enables and the published addon does not have (`make demo-node` checks).

use std::path::PathBuf;

use bizra::{ErrorKind, RejectCode};
use napi::Env;
use napi_derive::napi;

use crate::convert::JsObject;
use crate::errors::{core_err, guard, internal, js_error, Result};
use crate::tasks::{deferred, off_thread, PoolTask};

/// Panics inside an export's guard: the suite checks it is a thrown `BizraError` of kind `PANIC`
/// and that the process lives on.
#[napi(js_name = "__panicForTest", skip_typescript)]
pub fn panic_for_test() -> Result<()> {
    guard(|| -> Result<()> { panic!("deliberate panic for the test suite") })
}

/// Panics in a task on libuv's pool, as `verifyBatch` runs: the Promise rejects with `PANIC`.
#[napi(js_name = "__panicInTaskForTest", skip_typescript)]
pub fn panic_in_task_for_test() -> Result<napi::bindgen_prelude::AsyncTask<PoolTask<u32>>> {
    guard(|| {
        Ok(PoolTask::new(|| -> u32 {
            panic!("deliberate panic in a pool task")
        }))
    })
}

/// Panics on a thread of our own, as a generation waits: the Promise rejects with `PANIC`.
#[napi(js_name = "__panicOnThreadForTest", skip_typescript)]
pub fn panic_on_thread_for_test(env: Env) -> Result<JsObject> {
    guard(|| {
        let (d, promise) = deferred::<u32>(&env)?;
        off_thread(
            &env,
            d,
            || -> u32 { panic!("deliberate panic on a job thread") },
            |env, done| done.map_err(|e| js_error(env, e)),
        );
        Ok(promise)
    })
}

/// Throws the binding's error for an error of the kind named `kind` (from `errorKinds()`): a core
/// error of that kind through the same mapping as every export, or, for the kinds only a
/// boundary raises, the boundary's own. The suite walks every kind of the core's table with it.
#[napi(js_name = "__errorForTest", skip_typescript)]
pub fn error_for_test(kind: String) -> Result<()> {
    guard(|| {
        let kind = ErrorKind::from_name(&kind)
            .ok_or_else(|| internal(format!("no kind named {kind:?}")))?;
        let sample = match kind {
            ErrorKind::InvalidInput => bizra::Error::InvalidInput("a sample".into()),
            ErrorKind::Rejected => bizra::Error::reject(RejectCode::HashMismatch, "a sample"),
            ErrorKind::CertificateRefused => bizra::Error::Certificate {
                code: 6,
                name: "BAD_SIGNATURE",
                detail: "a sample".into(),
            },
            ErrorKind::EvidenceRefused => bizra::Error::Evidence {
                code: 5,
                name: "NOT_CONFLICTING",
                detail: "a sample".into(),
            },
            ErrorKind::Key => bizra::Error::Key("a sample".into()),
            ErrorKind::Constitution => bizra::Error::Constitution("a sample".into()),
            ErrorKind::Io => bizra::Error::io(
                "/a/sample",
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ),
            ErrorKind::Model => bizra::Error::Model {
                path: PathBuf::from("/a/sample.gguf"),
                reason: "a sample".into(),
            },
            ErrorKind::ModelNotFound => bizra::Error::ModelNotFound("a sample".into()),
            ErrorKind::PromptTooLong => bizra::Error::ContextOverflow {
                prompt_tokens: 600,
                n_ctx: 512,
            },
            ErrorKind::NoRemotePool => bizra::Error::NoRemotePool,
            ErrorKind::Inference => bizra::Error::Inference("a sample".into()),
            ErrorKind::RemoteUnavailable => bizra::Error::Remote {
                endpoint: "http://127.0.0.1:9/v1".into(),
                status: None,
                refused: false,
                detail: "a sample".into(),
            },
            ErrorKind::RemoteRefused => bizra::Error::Remote {
                endpoint: "http://127.0.0.1:9/v1".into(),
                status: Some(401),
                refused: true,
                detail: "a sample".into(),
            },
            ErrorKind::Busy => bizra::Error::Busy {
                queue: "a sample".into(),
                capacity: 1,
            },
            ErrorKind::Internal => return Err(internal("a sample")),
            ErrorKind::Panic => panic!("a sample"),
            // A kind the core added: the suite fails on it until it has a sample here.
            other => return Err(internal(format!("no sample error of kind {other}"))),
        };
        Err(core_err(sample))
    })
}
