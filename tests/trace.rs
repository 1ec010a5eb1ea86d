//! Trace format v1 end to end: writer → file → reader, on good and damaged files.

mod trace_util;

use reprise::trace::{self, Footer, Header, Reader, Writer};
use std::path::{Path, PathBuf};
use trace_util::*;

fn header() -> Header {
    let mut source = serde_json::Map::new();
    source.insert("upstream".into(), "http://127.0.0.1:8000".into());
    Header::new(source)
}

/// Writes `exchanges` (and a footer when `footer`) to a fresh file in `dir`.
fn write(dir: &Path, name: &str, exchanges: &[trace::Exchange], footer: bool) -> PathBuf {
    let path = dir.join(name);
    let mut w = Writer::create(&path, &header()).unwrap();
    for e in exchanges {
        w.append(e).unwrap();
    }
    if footer {
        w.finish(&Footer {
            exchanges: exchanges.len() as u64,
            sessions: 3,
            dropped: 1,
        })
        .unwrap();
    }
    path
}

fn read_all(path: &Path) -> (Vec<trace::Exchange>, trace::Integrity) {
    let mut r = Reader::open(path).unwrap();
    let got: Vec<_> = r.by_ref().map(|e| e.unwrap()).collect();
    (got, r.integrity())
}

#[test]
fn round_trip_keeps_every_exchange_and_the_footer() {
    let dir = tempfile::tempdir().unwrap();
    let mut xs = simple(600); // more than two full frames
    xs.push(failed(600, None, 7_000_000, "timeout"));
    let path = write(dir.path(), "a.trace.zst", &xs, true);
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.header(), &{
        let mut h = header();
        h.created_at = r.header().created_at;
        h
    });
    let (got, integrity) = read_all(&path);
    assert_eq!(got, xs);
    assert_eq!(integrity.exchanges, 601);
    assert_eq!(integrity.torn, None);
    assert_eq!(
        integrity.footer,
        Some(Footer {
            exchanges: 601,
            sessions: 3,
            dropped: 1
        })
    );
}

#[test]
fn frames_close_by_count_and_stats_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.trace.zst");
    let mut w = Writer::create(&path, &header()).unwrap();
    assert_eq!(w.path(), path);
    for e in simple(trace::FRAME_MAX_EXCHANGES as u64 * 2 + 1) {
        w.append(&e).unwrap();
    }
    // header frame + two full frames; the last exchange is still pending
    assert_eq!(w.stats().frames, 3);
    let stats = w
        .finish(&Footer {
            exchanges: 513,
            sessions: 3,
            dropped: 0,
        })
        .unwrap();
    assert_eq!(stats.frames, 5);
    assert_eq!(stats.exchanges, 513);
    assert_eq!(stats.file_bytes, std::fs::metadata(&path).unwrap().len());
    assert!(stats.raw_bytes > stats.file_bytes * 3, "{stats:?}");
    assert!(stats.compression_ratio() > 3.0);
}

#[test]
fn tick_closes_an_old_frame_and_a_dropped_writer_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.trace.zst");
    let mut w = Writer::create(&path, &header()).unwrap();
    w.append(&simple(1)[0]).unwrap();
    w.tick().unwrap();
    assert_eq!(w.stats().frames, 1, "a young frame stays open");
    std::thread::sleep(trace::FRAME_MAX_AGE + std::time::Duration::from_millis(50));
    w.tick().unwrap();
    assert_eq!(w.stats().frames, 2, "an old frame is closed by tick");
    // readable while the writer is still open
    let (got, integrity) = read_all(&path);
    assert_eq!(got.len(), 1);
    assert_eq!(integrity.footer, None);
    w.append(&simple(2)[1]).unwrap();
    drop(w);
    let (got, integrity) = read_all(&path);
    assert_eq!(got, simple(2));
    assert_eq!((integrity.footer, integrity.torn), (None, None));
}

#[cfg(unix)]
#[test]
fn files_are_private_and_never_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "p.trace.zst", &simple(2), true);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let err = Writer::create(&path, &header()).unwrap_err();
    assert!(err.to_string().contains("p.trace.zst"), "{err}");
    assert_eq!(read_all(&path).0.len(), 2, "the existing file is untouched");
}
