//! A `--scrape URL[@interval]` argument.
//!
//! # Invariants
//! - Only `http://` and `https://` URLs are accepted; the interval is at least 100 ms.
//! - The interval is the text after the *last* `@` when it reads as a duration, so a URL
//!   with user info (`http://u@host/metrics`) still parses.

use std::time::Duration;

/// Default time between two scrapes of one target.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// One endpoint to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub interval: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error(
        "--scrape {arg}: not an http:// or https:// URL (e.g. http://127.0.0.1:8000/metrics@1s)"
    )]
    Scheme { arg: String },
    #[error("--scrape {arg}: interval {interval} is shorter than 100ms")]
    Interval { arg: String, interval: String },
}

impl Target {
    pub fn parse(arg: &str) -> Result<Target, Error> {
        let (url, interval) = match arg.rsplit_once('@') {
            Some((u, i)) => match humantime::parse_duration(i) {
                Ok(d) => {
                    if d < Duration::from_millis(100) {
                        return Err(Error::Interval {
                            arg: arg.into(),
                            interval: i.into(),
                        });
                    }
                    (u, d)
                }
                Err(_) => (arg, DEFAULT_INTERVAL),
            },
            None => (arg, DEFAULT_INTERVAL),
        };
        let lower = url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("http://")
            .or_else(|| lower.strip_prefix("https://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            return Err(Error::Scheme { arg: arg.into() });
        }
        Ok(Target {
            url: url.to_owned(),
            interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_url_and_interval() {
        let t = Target::parse("http://127.0.0.1:9/metrics@250ms").unwrap();
        assert_eq!(
            (t.url.as_str(), t.interval),
            ("http://127.0.0.1:9/metrics", Duration::from_millis(250))
        );
        let t = Target::parse("https://u@host/metrics").unwrap();
        assert_eq!(
            (t.url.as_str(), t.interval),
            ("https://u@host/metrics", DEFAULT_INTERVAL)
        );
    }

    #[test]
    fn refuses_other_schemes_and_tiny_intervals() {
        for bad in [
            "ftp://x/metrics",
            "127.0.0.1:8000/metrics",
            "http://",
            "file:///m@1s",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(Error::Scheme { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Target::parse("http://x/m@10ms"),
            Err(Error::Interval { .. })
        ));
    }
}
