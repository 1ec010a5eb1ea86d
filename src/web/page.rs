//! The live page: one HTML document with its CSS and scripts inline (no external URL, no
//! web font), filled by `assets/live.js` from `/api/meta` and the `/events` stream.
//!
//! The layout is static HTML with ids the script fills; the browser test reads the same
//! ids. `report.css` gives the look of `report.html`; `dist.js` draws the response-time
//! distribution for both pages.

const REPORT_CSS: &str = include_str!("../report/assets/report.css");
const LIVE_CSS: &str = include_str!("assets/live.css");
const DIST_JS: &str = include_str!("../report/assets/dist.js");
const LIVE_JS: &str = include_str!("assets/live.js");
const BODY: &str = include_str!("assets/live.html");

/// The live page.
pub fn live() -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>reprise · live</title>\n<link rel=\"icon\" href=\"data:,\">\n\
         <style>\n{REPORT_CSS}{LIVE_CSS}</style>\n</head>\n<body>\n{BODY}\n\
         <script>\n{DIST_JS}</script>\n<script>\n{LIVE_JS}</script>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_names_no_other_host() {
        let p = super::live();
        // the SVG namespace is a name, never fetched
        let p2 = p.replace("http://www.w3.org/2000/svg", "");
        for bad in [
            "http://",
            "https://",
            "//cdn",
            "@import",
            "url(",
            "@font-face",
        ] {
            assert!(!p2.contains(bad), "the page contains `{bad}`");
        }
        for id in [
            "c-rate",
            "c-lat",
            "c-users",
            "c-lag",
            "c-hist",
            "c-pct",
            "endpoints",
            "controls",
        ] {
            assert!(p.contains(&format!("id=\"{id}\"")), "{id}");
        }
    }
}
