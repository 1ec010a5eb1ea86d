//! What a credential looks like: the names of headers, query keys and JSON / form keys that
//! carry one, and the shapes of well-known credential values.
//!
//! Shared by the recorder's redaction (`record::Redaction`) and by `reprise inspect
//! --secrets`, so the two cannot disagree on what a secret is. Uses nothing of ours.
//!
//! # Invariants
//! - Names match case-insensitively; key names also ignore `-`, `_` and `.` (`api_key`,
//!   `api-key`, `apiKey` and `APIKEY` are one name).
//! - The patterns are the documented ones (README, "Redaction"): [`HEADER_PARTS`],
//!   [`KEY_EXACT`], [`KEY_PARTS`], [`QUERY_EXACT`].
//! - Nothing here allocates per call except [`normalize`]'s small key buffer.

pub mod shape;
pub mod text;

pub use shape::shape;

/// Header names always treated as credentials (besides [`HEADER_PARTS`]).
pub const HEADER_EXACT: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// A header whose lower-case name contains one of these carries a credential
/// (`X-Auth-Token`, `X-Access-Token`, `X-Session-Token`, `X-Client-Secret`, `X-Goog-Api-Key`).
pub const HEADER_PARTS: [&str; 8] = [
    "auth",
    "token",
    "secret",
    "passw",
    "api-key",
    "apikey",
    "credential",
    "signature",
];

/// JSON, form and query keys that are credentials when equal (after [`normalize`]) to one of
/// these…
pub const KEY_EXACT: [&str; 5] = ["auth", "pass", "pwd", "pin", "otp"];

/// …or when they contain one of these (`password`, `new_password`, `client_secret`,
/// `access_token`, `refreshToken`, `api_key`, `x-api-key`, `private_key`, `credentials`).
pub const KEY_PARTS: [&str; 10] = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "authorization",
];

/// Query keys that are credentials besides the key patterns (`?key=` of Google APIs,
/// `?sig=` of signed URLs, session ids in URLs).
pub const QUERY_EXACT: [&str; 7] = [
    "key",
    "sig",
    "signature",
    "sid",
    "sessionid",
    "jsessionid",
    "phpsessid",
];

/// Whether a header of this name carries a credential.
pub fn is_secret_header(name: &str) -> bool {
    HEADER_EXACT.iter().any(|h| h.eq_ignore_ascii_case(name)) || {
        let lower = name.to_ascii_lowercase();
        HEADER_PARTS.iter().any(|p| lower.contains(p))
    }
}

/// Whether a JSON or form key of this name holds a credential.
pub fn is_secret_key(name: &str) -> bool {
    let n = normalize(name);
    KEY_EXACT.contains(&n.as_str()) || KEY_PARTS.iter().any(|p| n.contains(p))
}

/// Whether a query parameter of this (decoded) name holds a credential.
pub fn is_secret_query_key(name: &str) -> bool {
    is_secret_key(name) || QUERY_EXACT.contains(&normalize(name).as_str())
}

/// Whether `key` is the bare `token` of a streamed model answer (`data: {"token": "…"}` in
/// a `text/event-stream` body), which is text, not a credential.
pub fn is_stream_token(key: &str) -> bool {
    normalize(key) == "token"
}

/// Lower case without `-`, `_`, `.` and spaces: the form key patterns are written in.
pub fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names() {
        for h in [
            "Authorization",
            "X-Auth-Token",
            "x-access-token",
            "X-Session-Token",
            "X-Api-Key",
            "x-goog-api-key",
            "X-Client-Secret",
            "Cookie",
            "Set-Cookie",
            "X-Amz-Security-Token",
        ] {
            assert!(is_secret_header(h), "{h}");
        }
        for h in ["content-type", "x-request-id", "accept", "server-timing"] {
            assert!(!is_secret_header(h), "{h}");
        }
    }

    #[test]
    fn keys_and_query_keys() {
        for k in [
            "password",
            "Password",
            "new_password",
            "client_secret",
            "accessToken",
            "refresh-token",
            "api_key",
            "APIKEY",
            "private_key",
            "credentials",
            "pwd",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "thread_id",
            "user_response",
            "author",
            "topic",
            "turn",
            "passage",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
        assert!(is_secret_query_key("key"));
        assert!(is_secret_query_key("token"));
        assert!(
            !is_secret_key("key"),
            "a JSON `key` is too common to be a secret"
        );
        assert!(!is_secret_query_key("page"));
    }
}
