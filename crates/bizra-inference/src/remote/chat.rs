//! One chat completion against the server, whole or streamed, measured as it arrives.

use std::time::Instant;

use reqwest::Method;
use serde_json::Value;

use super::http::{cancelled, ms, Failure, Transport};
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
    let started = Instant::now();
    let stream = on_token.is_some();
    let body = super::wire::chat_body(
        &job.model,
        &job.messages,
        &job.params,
        job.top_logprobs,
        stream,
    );
    let mut reply = Reply::default();
    let mut first_token_ms = None;
    let mut cancelled_early = false;
    let what = format!("POST {}/chat/completions", transport.shown);
    match transport
        .send(Method::POST, "chat/completions", Some(&body), cancel)
        .await
    {
        Ok(mut resp) if stream => {
            let mut decoder = Decoder::default();
            let mut done = false;
            while !done {
                let chunk = tokio::select! {
                    c = resp.chunk() => c,
                    () = cancelled(cancel) => { cancelled_early = true; break; }
                };
                let bytes = match chunk {
                    Ok(Some(b)) => b,
                    Ok(None) if reply.finish_reason.is_some() => break,
                    Ok(None) => {
                        return Err(Failure::Failed(format!(
                            "{what}: the server closed the stream before its end ([DONE]), after {} piece(s) of text",
                            reply.content_chunks
                        )))
                    }
                    Err(e) => {
                        let cause = if e.is_timeout() {
                            "nothing received within the read timeout".to_owned()
                        } else {
                            transport.describe(e)
                        };
                        return Err(Failure::Failed(format!(
                            "{what}: the stream broke after {} piece(s) of text: {cause}",
                            reply.content_chunks
                        )));
                    }
                };
                let events = decoder
                    .push(&bytes)
                    .map_err(|e| Failure::Failed(format!("{what}: malformed stream: {e}")))?;
                for event in events {
                    let data = match event {
                        Event::Done => {
                            done = true;
                            break;
                        }
                        Event::Data(d) => d,
                    };
                    let v: Value = serde_json::from_str(&data).map_err(|e| {
                        Failure::Failed(format!(
                            "{what}: malformed stream event ({e}): {:?}",
                            transport.redact(&data.chars().take(200).collect::<String>())
                        ))
                    })?;
                    let piece = reply.read_chunk(&v, job.vocab).map_err(|e| {
                        Failure::Failed(format!("{what}: {}", transport.redact(&e)))
                    })?;
                    if !piece.is_empty() {
                        first_token_ms.get_or_insert_with(|| ms(started));
                        if let Some(f) = on_token.as_mut() {
                            f(&piece);
                        }
                    }
                }
            }
            // Dropping the response here, unread, closes the connection.
        }
        Ok(resp) => {
            let bytes = tokio::select! {
                b = resp.bytes() => b,
                () = cancelled(cancel) => { cancelled_early = true; Ok(Default::default()) }
            };
            if !cancelled_early {
                let bytes = bytes.map_err(|e| {
                    Failure::Failed(if e.is_timeout() {
                        format!("{what}: no response within the read timeout")
                    } else {
                        format!("{what}: {}", transport.describe(e))
                    })
                })?;
                let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                    Failure::Failed(format!("{what}: the response is not JSON: {e}"))
                })?;
                reply
                    .read_response(&v, job.vocab)
                    .map_err(|e| Failure::Failed(format!("{what}: {}", transport.redact(&e))))?;
            }
        }
        Err(Failure::Cancelled) => cancelled_early = true,
        Err(e) => return Err(e),
    }
    drop(on_token);
    let total_ms = ms(started);
    let finish_reason = if cancelled_early {
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
    Ok(RemoteCompletion {
        completion: Completion {
            text: reply.text,
            finish_reason,
            rendered_prompt: job.messages.to_string(),
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
    })
}

fn clamp_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
