//! The text of a command's error for the terminal: its chain of causes, each said once.
//!
//! Our error messages often include their cause (`{path}: cannot create: {source}`) and
//! anyhow's alternate form then appends the same cause again; an OS error read twice or
//! three times (`File exists (os error 17): … File exists (os error 17)`) tells the user
//! nothing more.
//!
//! # Invariants
//! - A cause whose text the message so far already contains is left out; every other
//!   cause is appended after `: `, in order.

/// `e` and its causes, each cause's text once.
pub fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(text.as_str()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn each_cause_once() {
        let os = std::io::Error::from_raw_os_error(17);
        let e = Err::<(), _>(crate::report::Error::Io {
            path: "r/summary.json".into(),
            action: "write",
            source: os,
        })
        .context("writing the report")
        .unwrap_err();
        let text = render(&e);
        assert_eq!(text.matches("os error 17").count(), 1, "{text}");
        assert!(
            text.starts_with("writing the report: r/summary.json: cannot write: "),
            "{text}"
        );
        // anyhow's own alternate form says it twice: the defect this fixes
        assert_eq!(format!("{e:#}").matches("os error 17").count(), 2);
        let plain = anyhow::anyhow!("a").context("b");
        assert_eq!(render(&plain), "b: a");
    }
}
