//! Secrets never reach a recording with the default flags: a corpus of credential forms —
//! headers, query keys, JSON keys at any depth, form fields, response headers and bodies,
//! and an upstream that echoes every request header and body back — sent through the
//! recorder, then the decompressed trace searched for each value. `inspect --secrets`
//! finds nothing in it, and finds the same corpus in a trace recorded with `--no-redact`.

mod record_util;

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use record_util::{client, config, decompressed, start};
use reprise::record::Redaction;
use std::convert::Infallible;
use std::path::Path;

/// Echoes method, path, query, every header and the body as JSON, and adds credentials of
/// its own: a session-token header, a cookie, a token in the body.
async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
        .collect();
    let out = serde_json::json!({
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "access_token": "sec-resptok-0031",
        "thread_id": "t-keep-me",
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("x-session-token", "sec-resp-0011")
        .header("set-cookie", "session=sec-setcookie-0012; Path=/")
        .body(Full::new(Bytes::from(out.to_string())))
        .unwrap())
}

async fn upstream() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(s), service_fn(echo)));
        }
    });
    url
}

/// Sends the corpus through the proxy at `base`; returns every secret value sent or
/// answered.
async fn send_corpus(base: &str) -> Vec<String> {
    let c = client();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let basic = b64("alice:sec-basic-0002");
    let headers: [(&str, String); 10] = [
        ("authorization", "Bearer sec-bearer-0001".into()),
        ("x-auth-token", "sec-xauth-0003".into()),
        ("x-access-token", "sec-xaccess-0004".into()),
        ("x-api-key", "sec-apikey-0005".into()),
        ("cookie", "sid=sec-cookie-0006; theme=dark".into()),
        ("proxy-authorization", format!("Basic {basic}")),
        ("x-client-secret", "sec-client-0008".into()),
        ("x-goog-api-key", "sec-goog-0009".into()),
        ("x-amz-security-token", "sec-amz-0010".into()),
        ("x-csrf-token", "sec-csrf-0034".into()),
    ];
    let mut req = c.get(format!(
        "{base}/q?api_key=sec-qapikey-0013&token=sec-qtoken-0014&access_token=sec-qaccess-0015\
         &key=sec-qkey-0016&password=sec-qpass-0017&client_secret=sec-qclient-0018\
         &sig=sec-qsig-0019&auth_token=sec%2Dpct%2D0033&page=2"
    ));
    for (k, v) in &headers {
        req = req.header(*k, v);
    }
    assert!(req.send().await.unwrap().status().is_success());
    let jsons = [
        serde_json::json!({"password": "sec-jpass-0020", "thread_id": "t-keep-me"}),
        serde_json::json!({"user": {"credentials": {"password": "sec-jdeep-0021"}}}),
        serde_json::json!({"refresh_token": "sec-jrefresh-0022"}),
        serde_json::json!({"items": [{"api_key": "sec-jarr-0023"}]}),
        serde_json::json!({"client_secret": "sec-jclient-0024"}),
        serde_json::json!({"newPassword": "sec-jnewpass-0025"}),
        serde_json::json!({"accessToken": "sec-jaccess-0026"}),
        serde_json::json!({"private_key": "sec-jpriv-0027"}),
        serde_json::json!({"a": [[{"b": {"secret": "sec-jnest-0035"}}]]}),
    ];
    for j in jsons {
        let r = c
            .post(format!("{base}/json"))
            .header("authorization", format!("Basic {basic}"))
            .json(&j)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let r = c
        .post(format!("{base}/form"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=alice&password=sec-fpass-0028&token=sec-ftoken-0029&client_secret=sec-fclient-0030")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = c
        .post(format!("{base}/text"))
        .header("content-type", "text/plain")
        .body("data: {\"secret\": \"sec-sse-0032\"}\n\n")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // every value sent or answered, and the echo forms of the Basic credentials
    let mut out: Vec<String> = vec![
        "sec-bearer-0001",
        "sec-basic-0002",
        "sec-xauth-0003",
        "sec-xaccess-0004",
        "sec-apikey-0005",
        "sec-cookie-0006",
        "sec-client-0008",
        "sec-goog-0009",
        "sec-amz-0010",
        "sec-resp-0011",
        "sec-setcookie-0012",
        "sec-qapikey-0013",
        "sec-qtoken-0014",
        "sec-qaccess-0015",
        "sec-qkey-0016",
        "sec-qpass-0017",
        "sec-qclient-0018",
        "sec-qsig-0019",
        "sec-jpass-0020",
        "sec-jdeep-0021",
        "sec-jrefresh-0022",
        "sec-jarr-0023",
        "sec-jclient-0024",
        "sec-jnewpass-0025",
        "sec-jaccess-0026",
        "sec-jpriv-0027",
        "sec-fpass-0028",
        "sec-ftoken-0029",
        "sec-fclient-0030",
        "sec-resptok-0031",
        "sec-sse-0032",
        "sec-pct-0033",
        "sec%2Dpct%2D0033",
        "sec-csrf-0034",
        "sec-jnest-0035",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    out.push(basic);
    out.push("alice:sec-basic-0002".into());
    out
}

async fn record(
    redaction: Redaction,
    dir: &tempfile::TempDir,
) -> (std::path::PathBuf, Vec<String>) {
    let up = upstream().await;
    let mut c = config(&up, dir);
    c.redaction = redaction;
    let path = c.out.clone();
    let proxy = start(c).await;
    let secrets = send_corpus(&proxy.url()).await;
    proxy.finish().await.unwrap();
    (path, secrets)
}

fn inspect_secrets(path: &Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(["inspect", "--secrets", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_of_the_corpus_reaches_the_trace_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (path, secrets) = record(Redaction::default(), &dir).await;
    assert!(secrets.len() >= 30, "{} forms", secrets.len());
    let text = decompressed(&path);
    let left: Vec<_> = secrets
        .iter()
        .filter(|s| text.contains(s.as_str()))
        .collect();
    assert!(left.is_empty(), "left in the trace: {left:?}");
    assert!(text.contains("t-keep-me"), "session ids are kept");
    assert!(text.contains("page=2"), "other query parameters are kept");
    let (code, out) = inspect_secrets(&path);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("nothing that looks like a credential"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_secrets_finds_the_corpus_in_a_trace_recorded_without_redaction() {
    let dir = tempfile::tempdir().unwrap();
    let (path, secrets) = record(Redaction::none(), &dir).await;
    let text = decompressed(&path);
    assert!(secrets.iter().filter(|s| text.contains(s.as_str())).count() >= 30);
    let (code, out) = inspect_secrets(&path);
    assert_eq!(code, Some(1), "{out}");
    let findings = out.lines().filter(|l| l.starts_with("  exchange")).count();
    assert!(findings >= 30, "{findings} findings:\n{out}");
    assert!(
        !out.contains("sec-jpass-0020"),
        "values are not printed whole"
    );
}
