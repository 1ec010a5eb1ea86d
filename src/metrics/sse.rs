//! An incremental Server-Sent Events parser, fed arbitrary byte chunks.
//!
//! Follows the WHATWG HTML "event stream interpretation": lines end with CRLF, LF or CR; an
//! optional leading UTF-8 BOM is dropped; a line starting with `:` is a comment; `field:
//! value` with one optional space after the colon (a line without a colon is a field with an
//! empty value); `data` lines are joined with `\n`; `event` names the type (default
//! `message`); `id` sets the last event id (ignored when it contains NUL); `retry` sets the
//! reconnection time when it is all ASCII digits; a blank line dispatches the event, and an
//! event whose data buffer is empty is not dispatched. Invalid UTF-8 becomes U+FFFD.
//!
//! # Invariants
//! - Chunking never changes the result: feeding a stream in any split gives the same events
//!   in the same order (a CR at the end of one chunk and an LF at the start of the next are
//!   one line end). A property test checks this; `fuzz/` holds a fuzz target.
//! - A stream cut mid-event dispatches nothing for that event ([`Parser::finish`] drops it).
//! - Never panics, whatever the bytes; memory is bounded by the longest line plus the
//!   pending event's data.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field, or `message` when none was given.
    pub event: String,
    /// The `data:` lines joined with `\n` (no trailing newline).
    pub data: String,
    /// The last event id in force when the event was dispatched (empty when none).
    pub id: String,
}

/// Incremental parser state. Feed chunks with [`Parser::feed`]; call [`Parser::finish`]
/// at end of stream.
#[derive(Debug)]
pub struct Parser {
    /// Bytes of the current, unterminated line.
    line: Vec<u8>,
    /// The previous chunk ended with CR: an LF at the start of the next one is its tail.
    after_cr: bool,
    /// No line has been completed yet (BOM stripping applies to the first line only).
    first_line: bool,
    data: String,
    event: String,
    last_id: String,
    retry_ms: Option<u64>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl Parser {
    pub fn new() -> Self {
        Parser {
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            data: String::new(),
            event: String::new(),
            last_id: String::new(),
            retry_ms: None,
        }
    }

    /// The reconnection time the stream last set with `retry:`, in milliseconds.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Feeds one chunk; `emit` is called once per event dispatched by this chunk.
    pub fn feed(&mut self, chunk: &[u8], mut emit: impl FnMut(Event)) {
        let mut rest = chunk;
        if self.after_cr && !rest.is_empty() {
            // an empty chunk must not forget that the last byte seen was a CR
            self.after_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..pos]);
            let terminator = rest[pos];
            rest = &rest[pos + 1..];
            if terminator == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            self.end_line(&mut emit);
        }
        self.line.extend_from_slice(rest);
    }

    /// Feeds one chunk and collects the events it dispatched.
    pub fn feed_collect(&mut self, chunk: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        self.feed(chunk, |e| out.push(e));
        out
    }

    /// End of stream: an unterminated line and an undispatched event are discarded, as the
    /// spec requires. Returns true when something was discarded (the stream was cut
    /// mid-event). The parser is ready for a new stream afterwards.
    pub fn finish(&mut self) -> bool {
        let cut = !self.line.is_empty() || !self.data.is_empty() || !self.event.is_empty();
        *self = Parser::new();
        cut
    }

    fn end_line(&mut self, emit: &mut impl FnMut(Event)) {
        let mut line = std::mem::take(&mut self.line);
        if self.first_line {
            self.first_line = false;
            if line.starts_with(BOM) {
                line.drain(..BOM.len());
            }
        }
        self.process_line(&line, emit);
        line.clear();
        self.line = line; // keep the allocation
    }

    fn process_line(&mut self, line: &[u8], emit: &mut impl FnMut(Event)) {
        if line.is_empty() {
            self.dispatch(emit);
            return;
        }
        if line[0] == b':' {
            return; // comment
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                let value = value.strip_prefix(b" ").unwrap_or(value);
                (&line[..colon], value)
            }
            None => (line, &[][..]),
        };
        match field {
            b"event" => {
                self.event.clear();
                self.event.push_str(&String::from_utf8_lossy(value));
            }
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            b"id" if !value.contains(&0) => {
                self.last_id.clear();
                self.last_id.push_str(&String::from_utf8_lossy(value));
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // an absurdly long number saturates instead of failing
                let ms = value.iter().fold(0u64, |acc, &d| {
                    acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                self.retry_ms = Some(ms);
            }
            _ => {} // unknown fields, a NUL in an id and a non-numeric retry are ignored
        }
    }

    fn dispatch(&mut self, emit: &mut impl FnMut(Event)) {
        if self.data.is_empty() {
            self.event.clear();
            return;
        }
        self.data.pop(); // the trailing '\n' added by the last data line
        let event = if self.event.is_empty() {
            "message".to_string()
        } else {
            std::mem::take(&mut self.event)
        };
        emit(Event {
            event,
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        });
    }
}

/// Parses a whole stream at once (every complete event; a cut tail is dropped).
pub fn parse_all(bytes: &[u8]) -> Vec<Event> {
    let mut p = Parser::new();
    let out = p.feed_collect(bytes);
    p.finish();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(event: &str, data: &str, id: &str) -> Event {
        Event {
            event: event.into(),
            data: data.into(),
            id: id.into(),
        }
    }

    fn msg(data: &str) -> Event {
        ev("message", data, "")
    }

    #[test]
    fn single_event_lf() {
        assert_eq!(parse_all(b"data: hello\n\n"), vec![msg("hello")]);
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        assert_eq!(parse_all(b"data: a\r\n\r\n"), vec![msg("a")]);
        assert_eq!(
            parse_all(b"data: a\r\rdata: b\r\r"),
            vec![msg("a"), msg("b")]
        );
        // mixed in one stream
        assert_eq!(
            parse_all(b"data: a\r\ndata: b\ndata: c\r\n\r\ndata: d\r\r"),
            vec![msg("a\nb\nc"), msg("d")]
        );
    }

    #[test]
    fn multi_line_data_joined_with_newline() {
        assert_eq!(
            parse_all(b"data: line one\ndata: line two\ndata:\ndata: four\n\n"),
            vec![msg("line one\nline two\n\nfour")]
        );
    }

    #[test]
    fn comments_are_ignored() {
        assert_eq!(
            parse_all(b": keep-alive\n\n:another\ndata: x\n: mid\n\n"),
            vec![msg("x")]
        );
    }

    #[test]
    fn event_type_and_default() {
        let got = parse_all(b"event: done\ndata: {\"a\":1}\n\ndata: t\n\n");
        assert_eq!(got, vec![ev("done", "{\"a\":1}", ""), msg("t")]);
    }

    #[test]
    fn only_one_space_after_colon_is_stripped() {
        assert_eq!(parse_all(b"data:no space\n\n"), vec![msg("no space")]);
        assert_eq!(parse_all(b"data:  two\n\n"), vec![msg(" two")]);
        assert_eq!(parse_all(b"data: a: b\n\n"), vec![msg("a: b")]);
    }

    #[test]
    fn field_without_colon_has_empty_value() {
        // "data" alone appends an empty line: two of them make "\n"
        assert_eq!(parse_all(b"data\ndata\n\n"), vec![msg("\n")]);
        // a lone "data" gives an empty-data event (the buffer held "\n")
        assert_eq!(parse_all(b"data\n\n"), vec![msg("")]);
    }

    #[test]
    fn id_persists_and_nul_id_is_ignored() {
        let got = parse_all(b"id: 7\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\nid\ndata: d\n\n");
        assert_eq!(
            got,
            vec![
                ev("message", "a", "7"),
                ev("message", "b", "7"),
                ev("message", "c", "7"),
                ev("message", "d", "")
            ]
        );
    }

    #[test]
    fn retry_only_digits() {
        let mut p = Parser::new();
        p.feed(b"retry: 1500\n\n", |_| {});
        assert_eq!(p.retry_ms(), Some(1500));
        p.feed(b"retry: 15x\n\nretry:\n\n", |_| {});
        assert_eq!(p.retry_ms(), Some(1500));
        p.feed(b"retry: 99999999999999999999999999\n", |_| {});
        assert_eq!(p.retry_ms(), Some(u64::MAX));
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_type_resets() {
        assert_eq!(
            parse_all(b"event: ping\n\ndata: x\n\n"),
            vec![msg("x")],
            "the type of an undispatched event must not leak into the next"
        );
    }

    #[test]
    fn bom_is_stripped_once_even_when_split() {
        let mut p = Parser::new();
        let mut got = p.feed_collect(b"\xEF\xBB");
        got.extend(p.feed_collect(b"\xBFdata: a\n\n"));
        assert_eq!(got, vec![msg("a")]);
        // a BOM later in the stream is not special: the line is an unknown field
        assert_eq!(
            parse_all(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"),
            vec![msg("a")]
        );
    }

    #[test]
    fn cut_mid_event_dispatches_nothing() {
        let mut p = Parser::new();
        assert_eq!(
            p.feed_collect(b"data: a\n\ndata: b\ndata: c"),
            vec![msg("a")]
        );
        assert!(p.finish(), "finish reports the cut");
        // a cut right after a data line (terminated, but no blank line)
        assert_eq!(parse_all(b"data: a\n"), vec![]);
        let mut q = Parser::new();
        q.feed(b"data: a\n\n", |_| {});
        assert!(!q.finish(), "a clean end is not a cut");
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let mut p = Parser::new();
        let mut got = p.feed_collect(b"data: a\r");
        got.extend(p.feed_collect(b"\n"));
        got.extend(p.feed_collect(b"\r"));
        got.extend(p.feed_collect(b"\ndata: b\n\n"));
        assert_eq!(got, vec![msg("a"), msg("b")]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(
            parse_all(b"data: \xFF\xFE\n\n"),
            vec![msg("\u{FFFD}\u{FFFD}")]
        );
    }

    #[test]
    fn utf8_split_inside_a_character() {
        let bytes = "data: héllo ✓\n\n".as_bytes();
        for cut in 0..bytes.len() {
            let mut p = Parser::new();
            let mut got = p.feed_collect(&bytes[..cut]);
            got.extend(p.feed_collect(&bytes[cut..]));
            assert_eq!(got, vec![msg("héllo ✓")], "cut at {cut}");
        }
    }

    #[test]
    fn the_agent_stream_shape() {
        let body = b"data: {\"token\": \"Hi\"}\r\n\r\ndata: {\"token\": \" there\"}\r\n\r\nevent: done\r\ndata: {\"current_node\": \"CI\",\r\ndata:  \"turn\": 1}\r\n\r\n";
        let got = parse_all(body);
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].event, "done");
        let v: serde_json::Value = serde_json::from_str(&got[2].data).unwrap();
        assert_eq!(v["current_node"], "CI");
    }

    #[test]
    fn parser_is_reusable_after_finish() {
        let mut p = Parser::new();
        p.feed(b"\xEF\xBB\xBFdata: a", |_| {});
        p.finish();
        assert_eq!(p.feed_collect(b"\xEF\xBB\xBFdata: b\n\n"), vec![msg("b")]);
    }

    fn split_feed(bytes: &[u8], cuts: &[usize]) -> Vec<Event> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut p = Parser::new();
        let mut out = Vec::new();
        let mut from = 0;
        for c in cuts {
            p.feed(&bytes[from..c], |e| out.push(e));
            from = c;
        }
        p.feed(&bytes[from..], |e| out.push(e));
        p.finish();
        out
    }

    /// Streams built from the pieces that matter: field names, colons, spaces, every line
    /// end, comments, BOM bytes, multibyte characters.
    fn sse_like() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"data".to_vec()),
            Just(b"event".to_vec()),
            Just(b"id".to_vec()),
            Just(b"retry".to_vec()),
            Just(b":".to_vec()),
            Just(b" ".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\xEF\xBB\xBF".to_vec()),
            Just("é✓".as_bytes().to_vec()),
            Just(b"\0".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..4),
            "[a-z0-9{}\"]{0,6}".prop_map(|s| s.into_bytes()),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(
            bytes in sse_like(),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            prop_assert_eq!(split_feed(&bytes, &cuts), parse_all(&bytes));
        }

        #[test]
        fn byte_at_a_time_gives_the_same_events(bytes in sse_like()) {
            let cuts: Vec<usize> = (0..bytes.len()).collect();
            prop_assert_eq!(split_feed(&bytes, &cuts), parse_all(&bytes));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_all(&bytes);
        }
    }
}
