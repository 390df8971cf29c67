//! Turns token pieces (bytes) into streamed text: whole UTF-8 characters only, and never a part
//! of a stop string, so that the streamed chunks always concatenate to exactly the final output.

/// Assembles the output text from token pieces.
#[derive(Debug, Default)]
pub(crate) struct TextAssembler {
    /// Bytes of an incomplete UTF-8 character, waiting for the next piece.
    partial: Vec<u8>,
    /// All decoded text so far (stop strings excluded once found).
    text: String,
    /// How much of `text` was handed out.
    emitted: usize,
    stops: Vec<String>,
    /// Longest stop string, in bytes.
    hold: usize,
}

impl TextAssembler {
    pub(crate) fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.to_vec(),
            hold: stops.iter().map(String::len).max().unwrap_or(0),
            ..Self::default()
        }
    }

    /// Adds a piece; returns the text now safe to stream and whether a stop string was found
    /// (then the text is cut before it, and generation should end).
    pub(crate) fn push(&mut self, piece: &[u8]) -> (String, bool) {
        self.partial.extend_from_slice(piece);
        loop {
            match std::str::from_utf8(&self.partial) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.partial.clear();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    let (ok, rest) = self.partial.split_at(valid);
                    self.text.push_str(&String::from_utf8_lossy(ok));
                    match e.error_len() {
                        // Invalid bytes: replace them and go on with what follows.
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.partial = rest.get(bad..).unwrap_or_default().to_vec();
                        }
                        // An incomplete character at the end: keep it for the next piece.
                        None => {
                            self.partial = rest.to_vec();
                            break;
                        }
                    }
                }
            }
        }

        // Nothing that could start a stop string was emitted (see the hold-back below), so a
        // match can only begin at or after `emitted`.
        let found = self
            .stops
            .iter()
            .filter_map(|s| self.text.get(self.emitted..)?.find(s.as_str()))
            .min();
        if let Some(at) = found {
            self.text.truncate(self.emitted + at);
            self.partial.clear();
            return (self.take(self.text.len()), true);
        }
        // Hold back the last `hold - 1` bytes: they might be the start of a stop string.
        let mut safe = self.text.len().saturating_sub(self.hold.saturating_sub(1));
        while safe > self.emitted && !self.text.is_char_boundary(safe) {
            safe -= 1;
        }
        (self.take(safe), false)
    }

    /// Ends the text: returns what was held back (an incomplete character is dropped, lossily).
    pub(crate) fn finish(&mut self) -> String {
        if !self.partial.is_empty() {
            self.text.push(char::REPLACEMENT_CHARACTER);
            self.partial.clear();
        }
        self.take(self.text.len())
    }

    /// The whole text so far.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    fn take(&mut self, upto: usize) -> String {
        if upto <= self.emitted {
            return String::new();
        }
        let out = self
            .text
            .get(self.emitted..upto)
            .unwrap_or_default()
            .to_owned();
        self.emitted = upto;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&[u8]]) -> (String, String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut a = TextAssembler::new(&stops);
        let mut streamed = String::new();
        let mut stopped = false;
        for p in pieces {
            let (s, stop) = a.push(p);
            streamed.push_str(&s);
            if stop {
                stopped = true;
                break;
            }
        }
        streamed.push_str(&a.finish());
        (streamed, a.text().to_owned(), stopped)
    }

    #[test]
    fn split_utf8_is_joined() {
        let euro = "€".as_bytes();
        let (s, t, _) = run(&[], &[b"a", &euro[..1], &euro[1..], b"b"]);
        assert_eq!(s, "a€b");
        assert_eq!(t, "a€b");
    }

    #[test]
    fn stop_string_across_pieces_is_cut() {
        let (s, t, stopped) = run(&["\n\n"], &[b"Hello", b"\n", b"\nWorld"]);
        assert!(stopped);
        assert_eq!(s, "Hello");
        assert_eq!(t, "Hello");
    }

    #[test]
    fn near_miss_is_released() {
        let (s, _, stopped) = run(&["STOP"], &[b"ST", b"OCK"]);
        assert!(!stopped);
        assert_eq!(s, "STOCK");
    }

    #[test]
    fn invalid_bytes_become_replacement() {
        let (s, _, _) = run(&[], &[b"a\xffb"]);
        assert_eq!(s, "a\u{fffd}b");
    }
}
