//! The SSE body of `POST /session/continue/stream`.
//!
//! Shape: `events` token events `data: {"token":"…"}`, then `event: done` with
//! `data: {full state JSON}`; each event ends with a blank line (LF line ends).
//!
//! # Invariants
//! - Event *k* (0-based, the `done` event is number `events`) is written at
//!   `start + llm + first + k · gap`, computed from the absolute start, so pacing error does
//!   not pile up over a stream.
//! - The token texts concatenated give the agent's response.

use super::config::Stream as Pace;
use bytes::Bytes;
use futures_util::Stream;
use http::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http_body_util::StreamBody;
use hyper::body::Frame;
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

/// A boxed stream of SSE frames.
pub type SseBody =
    StreamBody<Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + Sync>>>;

/// When each event of one stream is due, relative to the request.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Before the first event: LLM latency + configured first delay.
    pub first: Duration,
    pub gap: Duration,
    pub events: u32,
}

impl Plan {
    pub fn new(pace: Pace, llm: Duration) -> Plan {
        Plan {
            first: llm + pace.first,
            gap: pace.gap,
            events: pace.events.max(1),
        }
    }

    /// From the request to the `done` event.
    pub fn total(&self) -> Duration {
        self.first + self.gap * self.events
    }
}

/// Splits `text` into `n` pieces at word boundaries (some may be empty when `n` exceeds
/// the word count); the pieces concatenated are `text`.
pub fn split_tokens(text: &str, n: u32) -> Vec<&str> {
    let n = n.max(1) as usize;
    let cuts: Vec<usize> = text
        .char_indices()
        .filter(|&(_, c)| c == ' ')
        .map(|(i, _)| i + 1)
        .collect();
    let words = cuts.len() + 1;
    let mut out = Vec::with_capacity(n);
    let mut from = 0;
    for k in 1..=n {
        let to = if k == n {
            text.len()
        } else {
            let w = k * words / n; // words in the first k pieces
            if w == 0 {
                0
            } else {
                cuts[w - 1]
            }
        };
        let to = to.max(from);
        out.push(&text[from..to]);
        from = to;
    }
    out
}

fn token_event(token: &str) -> Bytes {
    let quoted = serde_json::to_string(token).unwrap_or_else(|_| "\"\"".into());
    Bytes::from(format!("data: {{\"token\":{quoted}}}\n\n"))
}

/// The SSE body for one turn.
pub fn body(text: &str, done_json: String, plan: Plan) -> SseBody {
    let mut events: Vec<Bytes> = split_tokens(text, plan.events)
        .into_iter()
        .map(token_event)
        .collect();
    events.push(Bytes::from(format!("event: done\ndata: {done_json}\n\n")));
    let start = Instant::now() + plan.first;
    let gap = plan.gap;
    let s =
        futures_util::stream::unfold((events.into_iter(), 0u32), move |(mut it, k)| async move {
            let ev = it.next()?;
            let due = start + gap * k;
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            Some((Ok(Frame::data(ev)), (it, k + 1)))
        });
    StreamBody::new(Box::pin(s))
}

/// Response headers of an SSE stream.
pub fn headers(h: &mut HeaderMap) {
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_text_and_count() {
        let t = "Quick check: which answer is right, and why?";
        for n in 1..12 {
            let p = split_tokens(t, n);
            assert_eq!(p.len(), n as usize);
            assert_eq!(p.concat(), t);
        }
        assert_eq!(split_tokens("one two", 2), ["one ", "two"]);
        assert_eq!(split_tokens("", 3).concat(), "");
    }

    #[test]
    fn token_events_are_json() {
        let e = token_event("say \"hi\"\n");
        let s = std::str::from_utf8(&e).unwrap();
        let data = s.strip_prefix("data: ").unwrap().trim_end();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["token"], "say \"hi\"\n");
    }

    #[tokio::test(start_paused = true)]
    async fn events_follow_absolute_schedule() {
        use http_body_util::BodyExt;
        let plan = Plan {
            first: Duration::from_millis(300),
            gap: Duration::from_millis(100),
            events: 3,
        };
        let t0 = Instant::now();
        let mut b = body("a b c", "{}".into(), plan);
        let mut at = Vec::new();
        while let Some(f) = b.frame().await {
            let _ = f.unwrap();
            at.push((Instant::now() - t0).as_millis());
        }
        assert_eq!(at, [300, 400, 500, 600]);
        assert_eq!(plan.total(), Duration::from_millis(600));
    }
}
