//! The mock's bottlenecks: a database pool and an LLM limit queue requests, the queueing
//! shows in Server-Timing, and `/metrics` reports the gauges in the Prometheus text format.

use reprise::mock::{Config, Latency, Server};
use reprise::scrape::text;
use std::time::{Duration, Instant};

fn timing(res: &reqwest::Response, name: &str) -> Option<f64> {
    let v = res.headers().get("server-timing")?.to_str().ok()?;
    v.split(", ").find_map(|m| {
        let (n, d) = m.split_once(";dur=")?;
        (n == name).then(|| d.parse().ok())?
    })
}

async fn metric(c: &reqwest::Client, url: &str, name: &str) -> f64 {
    let page = c.get(format!("{url}/metrics")).send().await.unwrap();
    let body = page.bytes().await.unwrap();
    let page = text::parse(&body);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    page.samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

#[tokio::test]
async fn a_pool_of_two_queues_checkpoints_and_metrics_show_it() {
    let config = Config::default().db(2, Duration::from_millis(100));
    let mock = Server::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let url = mock.url();
    let c = reqwest::Client::new();
    assert_eq!(metric(&c, &url, "db_pool_max").await, 2.0);
    let t = Instant::now();
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            let u = format!("{url}/session/start");
            tokio::spawn(async move { c.post(u).body("{}").send().await.unwrap() })
        })
        .collect();
    // While they queue: never more than the pool in use, some waiting.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let in_use = metric(&c, &url, "db_pool_in_use").await;
    let waiting = metric(&c, &url, "db_pool_waiting").await;
    assert!(
        in_use <= 2.0 && waiting >= 1.0,
        "in use {in_use}, waiting {waiting}"
    );
    let mut waits = Vec::new();
    for s in starts {
        let res = s.await.unwrap();
        assert_eq!(res.status(), 200);
        let save = timing(&res, "checkpoint_save").unwrap();
        let wait = timing(&res, "db_wait").unwrap();
        assert!(
            save >= 100.0 && save >= wait + 99.0,
            "save {save} wait {wait}"
        );
        waits.push(wait);
    }
    // 6 checkpoints of 100 ms on 2 connections: 3 rounds.
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    waits.sort_by(f64::total_cmp);
    assert!(waits[5] >= 150.0, "{waits:?}");
    assert_eq!(metric(&c, &url, "db_acquired_total").await, 6.0);
    assert_eq!(metric(&c, &url, "db_pool_in_use").await, 0.0);
    // Every request is counted; the 6 starts under their endpoint label.
    let total = metric(&c, &url, "http_requests_total").await;
    let page = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("http_requests_total{endpoint=\"start\"} 6\n"),
        "{page}"
    );
    assert!(
        total > 6.0,
        "the /metrics requests count as `other`: {total}"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn an_llm_limit_of_one_serialises_turns() {
    let config = Config::default()
        .latency(Latency::Fixed(Duration::from_millis(100)))
        .llm_limit(1);
    let mock = Server::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let url = mock.url();
    let c = reqwest::Client::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r: serde_json::Value = c
            .post(format!("{url}/session/start"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["thread_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(metric(&c, &url, "llm_limit").await, 1.0);
    let turns: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let c = c.clone();
            let u = format!("{url}/session/continue");
            tokio::spawn(async move {
                c.post(u)
                    .json(&serde_json::json!({"thread_id": id, "user_response": "I know a bit"}))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut llm = Vec::new();
    for t in turns {
        let res = t.await.unwrap();
        assert_eq!(res.status(), 200);
        llm.push(timing(&res, "llm").unwrap());
    }
    llm.sort_by(f64::total_cmp);
    // One at a time: 100, 200, 300 ms (queueing included).
    assert!(llm[0] >= 99.0 && llm[2] >= 290.0, "{llm:?}");
    assert_eq!(metric(&c, &url, "llm_acquired_total").await, 3.0);
    assert!(metric(&c, &url, "llm_wait_seconds_total").await >= 0.29);
    mock.shutdown().await;
}

#[tokio::test]
async fn by_default_there_is_no_bottleneck_and_no_gauges() {
    let mock = Server::start("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let res = c
        .post(format!("{}/session/start", mock.url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(timing(&res, "db_wait").is_none());
    let body = c
        .get(format!("{}/metrics", mock.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !body.contains("db_pool") && !body.contains("llm_limit"),
        "{body}"
    );
    assert!(
        body.contains("http_requests_total{endpoint=\"start\"} 1"),
        "{body}"
    );
    mock.shutdown().await;
}
