//! Event arrival times of one streamed response, as its body chunks arrive.
//!
//! For `text/event-stream` an event *arrives* when its dispatching blank line arrives (the
//! first complete event, not the response head, is what TTFT measures); for any other
//! chunked body each non-empty chunk counts as one event.
//!
//! # Invariants
//! - Offsets are measured from the request's send and never decrease.
//! - The data of the last dispatched SSE event is kept (the agent's `done` event carries
//!   the turn's JSON state); earlier event data is dropped as soon as the next arrives, so
//!   memory is one event, not the stream.

use super::super::sse;
use std::time::Duration;

/// Scans one streamed response. Reuse with [`StreamScan::reset`] to keep allocations.
#[derive(Debug)]
pub struct StreamScan {
    sse: bool,
    parser: sse::Parser,
    events: Vec<Duration>,
    last_data: String,
    last_event: String,
    cut: bool,
}

impl StreamScan {
    /// `sse`: the response's content type is `text/event-stream`.
    pub fn new(sse: bool) -> Self {
        StreamScan {
            sse,
            parser: sse::Parser::new(),
            events: Vec::new(),
            last_data: String::new(),
            last_event: String::new(),
            cut: false,
        }
    }

    /// Whether a response with this `Content-Type` is parsed as SSE.
    pub fn is_sse_content_type(content_type: &[u8]) -> bool {
        let essence = content_type.split(|&b| b == b';').next().unwrap_or(&[]);
        essence
            .trim_ascii()
            .eq_ignore_ascii_case(b"text/event-stream")
    }

    pub fn reset(&mut self, sse: bool) {
        self.sse = sse;
        self.parser.finish();
        self.events.clear();
        self.last_data.clear();
        self.last_event.clear();
        self.cut = false;
    }

    /// One body chunk that arrived `at` after the send.
    pub fn chunk(&mut self, at: Duration, bytes: &[u8]) {
        let at = self.events.last().map_or(at, |&prev| at.max(prev));
        if !self.sse {
            if !bytes.is_empty() {
                self.events.push(at);
            }
            return;
        }
        let (events, last_data, last_event) =
            (&mut self.events, &mut self.last_data, &mut self.last_event);
        self.parser.feed(bytes, |e| {
            events.push(at);
            *last_data = e.data;
            *last_event = e.event;
        });
    }

    /// End of the body: drops an unterminated event (counted by [`StreamScan::was_cut`]).
    pub fn finish(&mut self) {
        if self.sse {
            self.cut = self.parser.finish();
        }
    }

    /// Arrival offsets of the complete events, in order.
    pub fn events(&self) -> &[Duration] {
        &self.events
    }

    /// Data of the last complete SSE event (empty when none or not SSE).
    pub fn last_data(&self) -> &str {
        &self.last_data
    }

    /// Type of the last complete SSE event (`message` by default).
    pub fn last_event(&self) -> &str {
        &self.last_event
    }

    /// The stream ended inside an event (that event was not counted).
    pub fn was_cut(&self) -> bool {
        self.cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn sse_event_arrives_with_its_blank_line() {
        let mut s = StreamScan::new(true);
        s.chunk(ms(300), b"data: {\"token\":\"a\"}\n");
        s.chunk(ms(310), b"\n");
        s.chunk(
            ms(400),
            b"data: {\"token\":\"b\"}\n\nevent: done\ndata: {\"current_node\":",
        );
        s.chunk(ms(500), b"\"CI\"}\n\n");
        s.finish();
        assert_eq!(s.events(), &[ms(310), ms(400), ms(500)]);
        assert_eq!(s.last_event(), "done");
        assert_eq!(s.last_data(), "{\"current_node\":\"CI\"}");
        assert!(!s.was_cut());
    }

    #[test]
    fn a_cut_tail_is_not_an_event() {
        let mut s = StreamScan::new(true);
        s.chunk(ms(10), b"data: a\n\ndata: b");
        s.finish();
        assert_eq!(s.events(), &[ms(10)]);
        assert!(s.was_cut());
        s.reset(true);
        assert!(s.events().is_empty() && !s.was_cut());
    }

    #[test]
    fn plain_chunks_are_events_and_offsets_never_decrease() {
        let mut s = StreamScan::new(false);
        s.chunk(ms(5), b"abc");
        s.chunk(ms(6), b"");
        s.chunk(ms(4), b"d");
        s.finish();
        assert_eq!(s.events(), &[ms(5), ms(5)]);
    }

    #[test]
    fn content_type_essence() {
        assert!(StreamScan::is_sse_content_type(b"text/event-stream"));
        assert!(StreamScan::is_sse_content_type(
            b"Text/Event-Stream; charset=utf-8"
        ));
        assert!(!StreamScan::is_sse_content_type(b"application/json"));
        assert!(!StreamScan::is_sse_content_type(b""));
    }
}
