//! A cleanly finished trace is compacted into large frames: the same lines, fewer and
//! larger frames, a smaller file; files of small frames (older recordings, a recorder
//! killed before its footer) still read as before.

mod trace_util;

use reprise::trace::{self, compact, Footer, Header, Reader, Writer};
use std::path::Path;

fn read_all(path: &Path) -> (Vec<trace::Exchange>, trace::Integrity) {
    let mut r = Reader::open(path).unwrap();
    let xs: Vec<_> = r.by_ref().map(|x| x.unwrap()).collect();
    (xs, r.integrity())
}

/// Frame starts found by decoding the file frame by frame with zstd itself.
fn frames(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let mut rest = &bytes[..];
    let mut n = 0;
    while !rest.is_empty() {
        let size = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
        rest = &rest[size..];
        n += 1;
    }
    n
}

#[test]
fn a_finished_trace_is_compacted_into_large_frames_with_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.trace.zst");
    let xs = trace_util::simple(3000);
    let mut w = Writer::create(&path, &Header::new(Default::default())).unwrap();
    let mut frames_written = 1;
    for (i, x) in xs.iter().enumerate() {
        w.append(x).unwrap();
        if i % 5 == 4 {
            // slow traffic: a frame every few exchanges, as a live recorder writes them
            w.flush().unwrap();
            frames_written += 1;
        }
    }
    // Before the footer, the file is the recorder's small frames.
    assert_eq!(frames(&path), frames_written);
    let before = std::fs::read(&path).unwrap();
    let footer = Footer {
        exchanges: 3000,
        sessions: 3,
        dropped: 0,
    };
    let stats = w.finish(&footer).unwrap();
    assert!(stats.compacted);
    // header, one frame of exchanges (well under 8 MiB of lines), footer
    assert_eq!((stats.frames, frames(&path)), (3, 3));
    let after = std::fs::read(&path).unwrap();
    assert_eq!(stats.file_bytes, after.len() as u64);
    assert!(
        after.len() * 3 < before.len(),
        "compacted {} B, small frames {} B",
        after.len(),
        before.len()
    );
    // Same decompressed stream: the small frames' lines plus the footer line.
    let plain_before = zstd::decode_all(&before[..]).unwrap();
    let plain_after = zstd::decode_all(&after[..]).unwrap();
    assert!(plain_after.starts_with(&plain_before));
    assert_eq!(
        &plain_after[plain_before.len()..],
        format!(
            "{}\n",
            serde_json::to_string(&trace::Line::Footer(footer)).unwrap()
        )
        .as_bytes()
    );
    let (got, integrity) = read_all(&path);
    assert_eq!(got, xs);
    assert_eq!(integrity.footer, Some(footer));
    assert_eq!(integrity.torn, None);
    // Nothing left beside it; still private.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["x.trace.zst"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn frames_hold_at_most_frame_bytes_of_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.trace.zst");
    // ~40 KiB per exchange body: 600 exchanges are ~24 MiB of lines, so 3+ frames
    let pad = "x".repeat(40 << 10);
    let xs: Vec<_> = (0..600u64)
        .map(|i| {
            let mut x = trace_util::simple(1).remove(0);
            x.id = i;
            x.req.body = trace::Body::from_bytes(pad.as_bytes(), pad.len() as u64);
            x
        })
        .collect();
    let mut w = Writer::create(&path, &Header::new(Default::default())).unwrap();
    for x in &xs {
        w.append(x).unwrap();
    }
    let stats = w
        .finish(&Footer {
            exchanges: 600,
            sessions: 1,
            dropped: 0,
        })
        .unwrap();
    assert!(stats.compacted);
    let bytes = std::fs::read(&path).unwrap();
    let mut rest = &bytes[..];
    let mut sizes = Vec::new();
    while !rest.is_empty() {
        let size = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
        let content = zstd::zstd_safe::get_frame_content_size(&rest[..size])
            .unwrap()
            .unwrap();
        sizes.push(content);
        rest = &rest[size..];
    }
    assert!(sizes.len() >= 5, "{sizes:?}");
    assert!(
        sizes.iter().all(|&s| s <= compact::FRAME_BYTES as u64),
        "{sizes:?}"
    );
    assert_eq!(read_all(&path).0, xs);
}

/// `tests/fixtures/trace/small-frames.trace.zst` is `recordings/sample.trace.zst` as
/// `reprise record` wrote it before compaction (`recordings/make-sample.sh`, 2026-11-27):
/// 56 KB of half-second frames. It reads as ever, and rewritten it is compacted.
#[test]
fn an_older_file_of_small_frames_reads_and_compacts_to_the_same_exchanges() {
    let old =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trace/small-frames.trace.zst");
    assert!(frames(&old) > 20, "the fixture is many small frames");
    let (xs, integrity) = read_all(&old);
    assert_eq!(xs.len(), 377);
    let footer = integrity.footer.expect("it stopped cleanly");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rewritten.trace.zst");
    let header = Reader::open(&old).unwrap().header().clone();
    let mut w = Writer::create(&path, &header).unwrap();
    for x in &xs {
        w.append(x).unwrap();
    }
    let stats = w.finish(&footer).unwrap();
    assert!(stats.compacted);
    assert_eq!(frames(&path), 3);
    let (again, integrity) = read_all(&path);
    assert_eq!(again, xs);
    assert_eq!(integrity.footer, Some(footer));
    let (small, large) = (std::fs::metadata(&old).unwrap().len(), stats.file_bytes);
    assert!(large * 2 < small, "{large} B compacted vs {small} B");
}

/// A compaction that cannot run (its scratch name is taken) keeps the complete,
/// uncompacted file and touches nothing else.
#[test]
fn a_compaction_that_cannot_run_keeps_the_file_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.trace.zst");
    let blocker = dir.path().join(".x.trace.zst.compacting");
    std::fs::write(&blocker, b"not ours").unwrap();
    let xs = trace_util::simple(50);
    let mut w = Writer::create(&path, &Header::new(Default::default())).unwrap();
    for x in &xs {
        w.append(x).unwrap();
        w.flush().unwrap();
    }
    let stats = w
        .finish(&Footer {
            exchanges: 50,
            sessions: 3,
            dropped: 0,
        })
        .unwrap();
    assert!(!stats.compacted);
    assert_eq!(frames(&path), 52);
    assert_eq!(read_all(&path).0, xs);
    assert_eq!(std::fs::read(&blocker).unwrap(), b"not ours");
    assert!(compact::compact(&path).is_err());
}
