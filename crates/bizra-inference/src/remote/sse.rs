//! A decoder for `text/event-stream` bodies (server-sent events), as OpenAI-compatible servers
//! stream completions: events of `data:` lines separated by blank lines, ended by `data: [DONE]`.

/// A body line longer than this is refused: a server that never ends a line would otherwise
/// grow the buffer without bound.
const MAX_LINE: usize = 16 << 20;

/// One dispatched event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// The event's data (its `data:` lines joined by newlines).
    Data(String),
    /// `data: [DONE]`: the server ended the stream.
    Done,
}

/// Turns body chunks, split anywhere, into events. Lines end with `\n` or `\r\n`; comments
/// (`:` lines) and the fields other than `data` (`event`, `id`, `retry`) are ignored, as the
/// OpenAI streams carry everything in `data`.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    line: Vec<u8>,
    data: Option<String>,
}

impl Decoder {
    /// Adds a chunk of the body; returns the events it completes, or why the stream is not an
    /// event stream.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, String> {
        let mut events = Vec::new();
        for &b in chunk {
            if b != b'\n' {
                if self.line.len() >= MAX_LINE {
                    return Err(format!("an event-stream line exceeds {MAX_LINE} bytes"));
                }
                self.line.push(b);
                continue;
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let line = std::str::from_utf8(&self.line)
                .map_err(|_| "an event-stream line is not UTF-8".to_owned())?;
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    events.push(if data == "[DONE]" {
                        Event::Done
                    } else {
                        Event::Data(data)
                    });
                }
            } else if !line.starts_with(':') {
                // `field:value` or a bare `field`; a comment starts with `:`.
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                if !field.bytes().all(|c| c.is_ascii_alphabetic()) {
                    // Not a field: this is no event stream (an HTML error page, a JSON body).
                    return Err(format!(
                        "not an event stream: {:?}",
                        line.chars().take(80).collect::<String>()
                    ));
                }
                if field == "data" {
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match &mut self.data {
                        Some(d) => {
                            d.push('\n');
                            d.push_str(value);
                        }
                        None => self.data = Some(value.to_owned()),
                    }
                }
            }
            self.line.clear();
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Result<Vec<Event>, String> {
        let mut d = Decoder::default();
        let mut all = Vec::new();
        for c in chunks {
            all.extend(d.push(c)?);
        }
        Ok(all)
    }

    #[test]
    fn events_split_anywhere_are_joined() {
        let body = b"data: {\"a\":1}\r\n\r\n: keep-alive\n\nevent: x\ndata:{\"b\":\ndata: 2}\n\ndata: [DONE]\n\n";
        let want = vec![
            Event::Data("{\"a\":1}".into()),
            Event::Data("{\"b\":\n2}".into()),
            Event::Done,
        ];
        assert_eq!(decode(&[body]).unwrap(), want);
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(decode(&bytes).unwrap(), want);
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        assert_eq!(decode(&[b"data: {\"a\":1}\n"]).unwrap(), vec![]);
    }

    #[test]
    fn what_is_not_an_event_stream_is_refused() {
        assert!(decode(&[b"<html>oops</html>\n"])
            .unwrap_err()
            .contains("not an event stream"));
        assert!(decode(&[b"{\"a\": 1}\n"])
            .unwrap_err()
            .contains("not an event stream"));
        assert!(decode(&[b"data: \xff\n"]).unwrap_err().contains("UTF-8"));
    }
}
