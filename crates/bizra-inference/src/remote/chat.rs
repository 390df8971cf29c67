//! One chat completion against the server, whole or streamed, measured as it arrives.

use std::time::Instant;

use reqwest::Method;
use serde_json::Value;

use super::http::{ms, until_cancelled, Failure, Transport};
use super::sse::{Decoder, Event};
use super::wire::Reply;
use super::RemoteCompletion;
use crate::engine::{Completion, FinishReason, TokenCallback};
use crate::CancelToken;

/// What one completion needs, owned so that it can move onto the client's thread.
pub(crate) struct ChatJob {
    pub model: String,
    pub messages: Value,
    pub params: Value,
    pub seed: u32,
    pub top_logprobs: u8,
    pub vocab: Option<u64>,
    pub has_stop: bool,
}

/// Runs a completion: streamed (SSE) when there is a callback, which then receives each piece
/// of text; whole otherwise. A cancelled request ends with [`FinishReason::Cancelled`] and the
/// text received so far; the connection is dropped, which closes it.
pub(crate) async fn complete(
    transport: &Transport,
    job: ChatJob,
    cancel: &CancelToken,
    mut on_token: Option<TokenCallback>,
) -> Result<RemoteCompletion, Failure> {
    let mut read = Reading {
        transport,
        what: format!("POST {}/chat/completions", transport.shown),
        vocab: job.vocab,
        started: Instant::now(),
        first_token_ms: None,
        reply: Reply::default(),
    };
    let body = super::wire::chat_body(
        &job.model,
        &job.messages,
        &job.params,
        job.top_logprobs,
        on_token.is_some(),
    );
    let sent = until_cancelled(
        cancel,
        transport.send(Method::POST, "chat/completions", Some(&body)),
    )
    .await
    .and_then(|sent| sent);
    let outcome = match (sent, on_token.as_mut()) {
        (Ok(resp), Some(on_token)) => read.stream(resp, cancel, on_token).await,
        (Ok(resp), None) => read.whole(resp, cancel).await,
        (Err(e), _) => Err(e),
    };
    let cancelled = match outcome {
        Ok(()) => false,
        Err(Failure::Cancelled) => true,
        Err(e) => return Err(e),
    };
    drop(on_token);
    let Reading {
        reply,
        started,
        first_token_ms,
        ..
    } = read;
    Ok(finish(job, reply, started, first_token_ms, cancelled))
}

/// The completion of a request cancelled before it was sent (while the client was learning the
/// server's model): no text, [`FinishReason::Cancelled`], as a cancel at any later point ends.
pub(crate) fn cancelled_before_sending(job: ChatJob, started: Instant) -> RemoteCompletion {
    finish(job, Reply::default(), started, None, true)
}

/// The completion of what the server replied, from `started` until now.
fn finish(
    job: ChatJob,
    reply: Reply,
    started: Instant,
    first_token_ms: Option<f64>,
    cancelled: bool,
) -> RemoteCompletion {
    let total_ms = ms(started);
    let finish_reason = if cancelled {
        FinishReason::Cancelled
    } else {
        match reply.finish_reason.as_deref() {
            // The API does not say whether a stop string or the model's end token ended it;
            // both are natural ends.
            Some("stop") if job.has_stop => FinishReason::Stop,
            Some("stop") => FinishReason::Eos,
            _ => FinishReason::Length,
        }
    };
    let completion_tokens = reply
        .completion_tokens
        .unwrap_or(reply.logprob_tokens.max(reply.content_chunks));
    let (prompt_ms, generation_ms) = match first_token_ms {
        Some(first) => (first, total_ms - first),
        None => (0.0, total_ms),
    };
    RemoteCompletion {
        completion: Completion {
            text: reply.text,
            finish_reason,
            rendered_prompt: job.messages.to_string(),
            chat_template: None,
            prompt_tokens: clamp_u32(reply.prompt_tokens.unwrap_or(0)),
            completion_tokens: clamp_u32(completion_tokens),
            prompt_ms,
            generation_ms,
            time_to_first_token_ms: first_token_ms,
            seed: job.seed,
            stats: reply.stats,
        },
        model: reply.model.unwrap_or(job.model),
        server_finish_reason: reply.finish_reason,
        total_ms,
        server_timings: reply.server_timings,
        vocab_size: job.vocab,
    }
}

/// A response being read: what it said so far, and when.
struct Reading<'a> {
    transport: &'a Transport,
    /// `POST <base>/chat/completions`, which every error names.
    what: String,
    vocab: Option<u64>,
    started: Instant,
    first_token_ms: Option<f64>,
    reply: Reply,
}

impl Reading<'_> {
    fn failed(&self, why: impl std::fmt::Display) -> Failure {
        Failure::unavailable(None, format!("{}: {}", self.what, why))
    }

    /// Reads an event stream to its end (`[DONE]`, or the end of the body once a finish reason
    /// came), handing each piece of text to `on_token`. Cancelled, it returns at once; the
    /// caller then drops the response, unread, which closes the connection.
    async fn stream(
        &mut self,
        mut resp: reqwest::Response,
        cancel: &CancelToken,
        on_token: &mut TokenCallback,
    ) -> Result<(), Failure> {
        let mut decoder = Decoder::default();
        loop {
            let chunk = until_cancelled(cancel, resp.chunk()).await?;
            let pieces = self.reply.content_chunks;
            let bytes = match chunk {
                Ok(Some(b)) => b,
                Ok(None) if self.reply.finish_reason.is_some() => return Ok(()),
                Ok(None) => {
                    return Err(self.failed(format!(
                        "the server closed the stream before its end ([DONE]), \
                         after {pieces} piece(s) of text"
                    )))
                }
                Err(e) => {
                    let cause = if e.is_timeout() {
                        "nothing received within the read timeout".to_owned()
                    } else {
                        self.transport.describe(e)
                    };
                    return Err(self.failed(format!(
                        "the stream broke after {pieces} piece(s) of text: {cause}"
                    )));
                }
            };
            let events = decoder
                .push(&bytes)
                .map_err(|e| self.failed(format!("malformed stream: {e}")))?;
            for event in events {
                let data = match event {
                    Event::Done => return Ok(()),
                    Event::Data(d) => d,
                };
                let v: Value = serde_json::from_str(&data).map_err(|e| {
                    let start: String = data.chars().take(200).collect();
                    let start = self.transport.redact(&start);
                    self.failed(format!("malformed stream event ({e}): {start:?}"))
                })?;
                let piece = self
                    .reply
                    .read_chunk(&v, self.vocab)
                    .map_err(|e| self.failed(self.transport.redact(&e)))?;
                if !piece.is_empty() {
                    let started = self.started;
                    self.first_token_ms.get_or_insert_with(|| ms(started));
                    on_token(&piece);
                }
            }
        }
    }

    /// Reads a whole response.
    async fn whole(
        &mut self,
        resp: reqwest::Response,
        cancel: &CancelToken,
    ) -> Result<(), Failure> {
        let bytes = until_cancelled(cancel, resp.bytes()).await?;
        let bytes = bytes.map_err(|e| {
            if e.is_timeout() {
                self.failed("no response within the read timeout")
            } else {
                self.failed(self.transport.describe(e))
            }
        })?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| self.failed(format!("the response is not JSON: {e}")))?;
        self.reply
            .read_response(&v, self.vocab)
            .map_err(|e| self.failed(self.transport.redact(&e)))
    }
}

fn clamp_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
