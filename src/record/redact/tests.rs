use super::*;
use crate::correlate::discover::tests::ex;
use serde_json::json;

fn line(e: &Exchange) -> String {
    serde_json::to_string(e).unwrap()
}

#[test]
fn default_headers_and_name_patterns_are_redacted_in_both_directions() {
    let mut e = ex(1, 0, 1, "GET", "/x", json!(null), json!({"ok": true}));
    e.req.headers = vec![
        ("Authorization".into(), "Bearer s3cret-bearer".into()),
        ("x-auth-token".into(), "tok-aaaa".into()),
        ("X-Access-Token".into(), "tok-bbbb".into()),
        ("content-type".into(), "application/json".into()),
    ];
    e.res.as_mut().unwrap().headers = vec![("x-session-token".into(), "tok-cccc".into())];
    Redaction::default().apply(&mut e);
    assert_eq!(e.req.headers[0].1, REDACTED);
    assert_eq!(e.req.headers[1].1, REDACTED);
    assert_eq!(e.req.headers[2].1, REDACTED);
    assert_eq!(e.req.headers[3].1, "application/json");
    assert_eq!(e.res.as_ref().unwrap().headers[0].1, REDACTED);
}

#[test]
fn query_keys_json_keys_at_any_depth_and_form_fields() {
    let mut e = ex(
        1,
        0,
        1,
        "POST",
        "/login",
        json!({"user": {"name": "ann", "password": "hunter22", "n": [{"api_key": "k-1234"}]},
               "thread_id": "t-1", "max_tokens": 5}),
        json!({"access_token": "at-5678", "refresh_token": ["rt-1234"], "thread_id": "t-1"}),
    );
    e.req.query = Some("api_key=qk-9999&page=2&token=qt%2F0000".into());
    Redaction::default().apply(&mut e);
    assert_eq!(
        e.req.query.as_deref(),
        Some("api_key=[redacted]&page=2&token=[redacted]")
    );
    assert_eq!(
        e.req.body.json(),
        Some(
            &json!({"user": {"name": "ann", "password": REDACTED, "n": [{"api_key": REDACTED}]},
                     "thread_id": "t-1", "max_tokens": 5})
        )
    );
    assert_eq!(
        e.res.as_ref().unwrap().body.json(),
        Some(&json!({"access_token": REDACTED, "refresh_token": [REDACTED], "thread_id": "t-1"}))
    );

    let mut f = ex(2, 0, 1, "POST", "/form", json!(null), json!(null));
    f.req.headers = vec![(
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    )];
    f.req.body = Body::from_bytes(b"user=ann&password=p%40ss-w0rd&next=%2F", 38);
    Redaction::default().apply(&mut f);
    assert_eq!(
        f.req.body.data,
        BodyData::Text("user=ann&password=[redacted]&next=%2F".into())
    );
}

#[test]
fn echoes_of_redacted_values_are_scrubbed_everywhere() {
    // Basic ann:open-sesame
    let basic = "Basic YW5uOm9wZW4tc2VzYW1l";
    let mut e = ex(
        1,
        0,
        1,
        "POST",
        "/echo",
        json!({"note": "hi"}),
        json!({"headers": {"authorization": "Bearer s3cret-bearer", "basic": basic},
               "you_sent": "open-sesame", "raw": "YW5uOm9wZW4tc2VzYW1l"}),
    );
    e.req.headers = vec![
        ("authorization".into(), "Bearer s3cret-bearer".into()),
        ("proxy-authorization".into(), basic.into()),
        ("cookie".into(), "sid=cookie-val-1; theme=dark".into()),
    ];
    e.req.path = "/echo/s3cret-bearer".into();
    let r = e.res.as_mut().unwrap();
    r.headers = vec![("x-echo".into(), "cookie-val-1".into())];
    let mut text = e.clone();
    Redaction::default().apply(&mut e);
    let l = line(&e);
    for s in [
        "s3cret-bearer",
        "open-sesame",
        "YW5uOm9wZW4tc2VzYW1l",
        "cookie-val-1",
    ] {
        assert!(!l.contains(s), "{s} left in {l}");
    }
    assert!(l.contains(r#""note":"hi""#), "the rest is kept: {l}");

    // a text body and a binary body echo it too
    text.res.as_mut().unwrap().body = Body::from_bytes(
        b"data: {\"token\": \"tt-1111\"}\n\nyou said s3cret-bearer",
        52,
    );
    Redaction::default().apply(&mut text);
    let l = line(&text);
    assert!(
        !l.contains("s3cret-bearer") && !l.contains("tt-1111"),
        "{l}"
    );
    let mut bin = ex(3, 0, 1, "GET", "/b", json!(null), json!(null));
    bin.req.headers = vec![("x-api-key".into(), "binary-key-1".into())];
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend_from_slice(b"binary-key-1");
    bin.res.as_mut().unwrap().body = Body::from_bytes(&bytes, bytes.len() as u64);
    Redaction::default().apply(&mut bin);
    let decoded = bin.res.as_ref().unwrap().body.to_bytes();
    assert!(!String::from_utf8_lossy(&decoded).contains("binary-key-1"));
}

#[test]
fn no_redact_keeps_everything_but_explicit_rules() {
    let r = Redaction::none()
        .header("X-Student-Token")
        .unwrap()
        .json_pointer("/auth/pin")
        .unwrap()
        .key("student_secret_word")
        .unwrap()
        .query_key("ticket")
        .unwrap();
    let mut e = ex(
        1,
        0,
        1,
        "POST",
        "/x",
        json!({"auth": {"pin": 1234, "password": "kept-pw"}, "deep": {"studentSecretWord": "abcd"}}),
        json!(null),
    );
    e.req.headers = vec![
        ("authorization".into(), "Bearer kept".into()),
        ("x-student-token".into(), "t".into()),
    ];
    e.req.query = Some("ticket=tk-1&token=kept".into());
    r.apply(&mut e);
    assert_eq!(
        e.req.headers[0].1, "Bearer kept",
        "--no-redact keeps defaults off"
    );
    assert_eq!(e.req.headers[1].1, REDACTED);
    assert_eq!(e.req.query.as_deref(), Some("ticket=[redacted]&token=kept"));
    assert_eq!(
        e.req.body.json(),
        Some(
            &json!({"auth": {"pin": REDACTED, "password": "kept-pw"}, "deep": {"studentSecretWord": REDACTED}})
        )
    );
}

#[test]
fn bad_rules_are_refused() {
    assert!(Redaction::default().header("bad header").is_err());
    assert!(Redaction::default().json_pointer("password").is_err());
    assert!(Redaction::default().json_pointer("").is_err());
    assert!(Redaction::default().key("--").is_err());
    assert!(Redaction::default().query_key("").is_err());
}

#[test]
fn a_streamed_answer_keeps_its_token_events() {
    let mut e = ex(1, 0, 1, "POST", "/s", json!(null), json!(null));
    let r = e.res.as_mut().unwrap();
    r.headers = vec![("content-type".into(), "text/event-stream".into())];
    let sse = "data: {\"token\":\"Hi\"}\n\ndata: {\"password\":\"pw-1234\"}\n\n";
    r.body = Body::from_bytes(sse.as_bytes(), sse.len() as u64);
    Redaction::default().apply(&mut e);
    assert_eq!(
        e.res.unwrap().body.data,
        BodyData::Text(
            "data: {\"token\":\"Hi\"}\n\ndata: {\"password\":\"[redacted]\"}\n\n".into()
        )
    );
}
