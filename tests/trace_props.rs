//! Property test: any exchange survives writer → file → reader unchanged.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use reprise::trace::{
    Body, BodyData, Exchange, ExchangeError, Footer, Header, Reader, Request, Response, Writer,
};

/// Any JSON value, nested a few levels (unicode keys and strings, big and negative numbers).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        (-1e300f64..1e300).prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A body as the recorder would capture it: JSON, text, binary (often not UTF-8), empty,
/// large, or cut at a cap (`len` larger than what was kept).
fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        json_value().prop_map(|v| {
            let bytes = serde_json::to_vec(&v).unwrap();
            Body::from_bytes(&bytes, bytes.len() as u64)
        }),
        any::<String>().prop_map(|s| Body::from_bytes(s.as_bytes(), s.len() as u64)),
        prop::collection::vec(any::<u8>(), 0..512)
            .prop_map(|b| Body::from_bytes(&b, b.len() as u64)),
        Just(Body::empty()),
        (any::<u8>(), 0usize..300_000).prop_map(|(seed, n)| {
            let b: Vec<u8> = (0..n)
                .map(|i| (i as u8).wrapping_mul(seed) ^ 0xa5)
                .collect();
            Body::from_bytes(&b, n as u64)
        }),
        (prop::collection::vec(any::<u8>(), 0..64), 0u64..1_000_000)
            .prop_map(|(b, extra)| Body::from_bytes(&b, b.len() as u64 + extra)),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[a-z][a-z0-9-]{0,20}", any::<String>()), 0..60)
}

fn exchange() -> impl Strategy<Value = Exchange> {
    let req = (
        prop_oneof![
            Just("GET".to_string()),
            Just("POST".to_string()),
            "[A-Z]{1,10}"
        ],
        any::<String>(),
        proptest::option::of(any::<String>()),
        headers(),
        body(),
    )
        .prop_map(|(method, path, query, headers, body)| Request {
            method,
            path,
            query,
            headers,
            body,
        });
    let res = (
        100u16..600,
        headers(),
        body(),
        prop::collection::vec((any::<u64>(), any::<u64>()), 0..40),
    )
        .prop_map(|(status, headers, body, chunks)| Response {
            status,
            headers,
            body,
            chunks,
        });
    let error = ("[a-z_]{1,20}", any::<String>())
        .prop_map(|(kind, message)| ExchangeError { kind, message });
    (
        (
            any::<u64>(),
            proptest::option::of(any::<String>()),
            any::<u64>(),
            0i64..4_000_000_000_000_000,
        ),
        (
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            any::<u64>(),
        ),
        req,
        proptest::option::of(res),
        proptest::option::of(error),
    )
        .prop_map(
            |((id, session, conn, micros), (t_us, ttfb_us, done_us), req, res, error)| Exchange {
                id,
                session,
                conn,
                sent_at: Utc.timestamp_micros(micros).unwrap(),
                t_us,
                ttfb_us,
                done_us,
                req,
                res,
                error,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_exchanges_round_trip(xs in prop::collection::vec(exchange(), 0..24)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.trace.zst");
        let mut w = Writer::create(&path, &Header::new(Default::default())).unwrap();
        for (i, x) in xs.iter().enumerate() {
            w.append(x).unwrap();
            if i % 7 == 6 {
                w.flush().unwrap();
            }
        }
        let footer = Footer { exchanges: xs.len() as u64, sessions: 0, dropped: 0 };
        w.finish(&footer).unwrap();

        let mut r = Reader::open(&path).unwrap();
        let got: Vec<Exchange> = r.by_ref().map(|e| e.unwrap()).collect();
        prop_assert_eq!(&got, &xs);
        prop_assert_eq!(r.integrity().footer, Some(footer));
        prop_assert_eq!(r.integrity().torn, None);
        // binary bodies come back byte for byte
        for (g, x) in got.iter().zip(&xs) {
            if let BodyData::Base64(_) = x.req.body.data {
                prop_assert_eq!(g.req.body.to_bytes(), x.req.body.to_bytes());
            }
        }
    }
}

#[test]
fn a_large_binary_body_round_trips_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.trace.zst");
    let bytes: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let body = Body::from_bytes(&bytes, bytes.len() as u64);
    assert!(matches!(body.data, BodyData::Base64(_)));
    let x = Exchange {
        id: 1,
        session: Some("ü-🦀".into()),
        conn: 0,
        sent_at: Utc::now(),
        t_us: 0,
        ttfb_us: Some(1),
        done_us: 2,
        req: Request {
            method: "PUT".into(),
            path: "/upload".into(),
            query: Some("a=%FF".into()),
            headers: vec![],
            body,
        },
        res: None,
        error: None,
    };
    let mut w = Writer::create(&path, &Header::new(Default::default())).unwrap();
    w.append(&x).unwrap();
    drop(w);
    let got: Vec<_> = Reader::open(&path).unwrap().map(|e| e.unwrap()).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].req.body.to_bytes(), bytes);
}
