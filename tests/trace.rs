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

/// A temporary directory in memory when the machine has one: the byte-by-byte damage
/// tests write thousands of small files, which costs milliseconds each on a disk.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
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
    // compacted at the finish: header, the 513 exchanges in one frame, footer
    assert!(stats.compacted);
    assert_eq!(stats.frames, 3);
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

// ------------------------------------------------------------------ bad files

/// One zstd frame holding `text` (as a foreign tool would write it).
fn zstd_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
    path
}

/// The bad files of the acceptance list, each with a word its error must contain.
pub fn bad_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let good = write(dir, "good.trace.zst", &simple(3), true);
    let bytes = std::fs::read(&good).unwrap();
    let mut out = vec![];
    let mut put = |name: &str, data: &[u8], word: &'static str| {
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        out.push((p, word));
    };
    put("empty.trace.zst", b"", "empty");
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    put("random.trace.zst", &random, "not zstd");
    // `gzip -c` of an empty input
    put(
        "gzip.trace.zst",
        &[
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
        "gzip",
    );
    put("cut2.trace.zst", &bytes[..2], "truncated header");
    put("cut20.trace.zst", &bytes[..20], "truncated header");
    put(
        "plain.trace.zst",
        br#"{"kind":"header","format":"reprise.trace","version":1}"#,
        "plain JSON",
    );
    out.push((
        zstd_file(
            dir,
            "newer.trace.zst",
            "{\"kind\":\"header\",\"format\":\"reprise.trace\",\"version\":2,\"created_at\":7}\n",
        ),
        "version 2 is newer",
    ));
    out.push((
        zstd_file(
            dir,
            "noheader.trace.zst",
            "{\"kind\":\"footer\",\"exchanges\":0,\"sessions\":0,\"dropped\":0}\n",
        ),
        "first line is not a header",
    ));
    out.push((
        zstd_file(dir, "text.trace.zst", "hello world\n"),
        "first line is not a header",
    ));
    out.push((
        zstd_file(
            dir,
            "other.trace.zst",
            "{\"kind\":\"header\",\"format\":\"har\",\"version\":1}\n",
        ),
        "format is `har`",
    ));
    out
}

#[test]
fn bad_files_are_refused_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (path, word) in bad_files(dir.path()) {
        let err = Reader::open(&path).expect_err(&path.display().to_string());
        let msg = err.to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(msg.contains(word), "{msg} should say {word}");
        assert!(!msg.contains('\n'), "{msg}");
    }
    let missing = dir.path().join("missing.trace.zst");
    let msg = Reader::open(&missing).unwrap_err().to_string();
    assert!(
        msg.contains("missing.trace.zst") && msg.contains("No such file"),
        "{msg}"
    );
}

#[test]
fn unknown_record_kinds_and_fields_are_tolerated_but_damage_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let x = serde_json::to_value(trace::Line::Exchange(simple(1).remove(0))).unwrap();
    let mut extra = x.clone();
    extra["from_the_future"] = serde_json::json!({"a": 1});
    let head = r#"{"kind":"header","format":"reprise.trace","version":1,"created_at":"2026-11-27T09:00:00.000000Z","tool":"other 1.0"}"#;
    let text = format!("{head}\n{x}\n\n{{\"kind\":\"annotation\",\"note\":\"hi\"}}\n{extra}\r\n");
    let path = zstd_file(dir.path(), "future.trace.zst", &text);
    let (got, integrity) = read_all(&path);
    assert_eq!(got, vec![simple(1).remove(0); 2]);
    assert_eq!(integrity.skipped, 1);
    assert_eq!(integrity.torn, None);
    assert!(Reader::open(&path).unwrap().header().source.is_empty());

    // an exchange line that does not parse is damage: iteration stops there
    let mut bytes = zstd::encode_all(format!("{head}\n{x}\n").as_bytes(), 3).unwrap();
    let second = bytes.len() as u64;
    bytes.extend(
        zstd::encode_all(
            format!("{x}\n{{\"kind\":\"exchange\",\"id\":\"x\"}}\n{x}\n").as_bytes(),
            3,
        )
        .unwrap(),
    );
    let path = dir.path().join("bad-line.trace.zst");
    std::fs::write(&path, bytes).unwrap();
    let (got, integrity) = read_all(&path);
    assert_eq!(got.len(), 2);
    let torn = integrity.torn.unwrap();
    assert_eq!((torn.offset, torn.recovered), (second, 2));
    // which line and why, not only a byte offset
    assert!(torn.line.is_some_and(|l| l >= 3), "{torn:?}");
    assert!(
        torn.to_string().contains(&format!(
            "line {} is not a valid record",
            torn.line.unwrap()
        )),
        "{torn}"
    );
}

// ------------------------------------------------------------------ standard tools

#[test]
fn the_zstd_cli_prints_the_header_as_line_one() {
    let dir = tempfile::tempdir().unwrap();
    let xs = simple(300);
    let path = write(dir.path(), "cli.trace.zst", &xs, true);
    let out = std::process::Command::new("zstd")
        .arg("-dc")
        .arg(&path)
        .output()
        .expect("the zstd CLI is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(r#"{"kind":"header","format":"reprise.trace","version":1,"#),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 1 + 300 + 1);
    let first: trace::Line = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(first, trace::Line::Exchange(xs[0].clone()));
    assert!(lines[301].starts_with(r#"{"kind":"footer","exchanges":300,"#));
}

// ------------------------------------------------------------------ damage, byte by byte

/// A file of several small frames; returns its bytes, the exchanges, and for each frame
/// boundary the byte offset and the exchanges complete before it.
fn framed_fixture(dir: &Path) -> (Vec<u8>, Vec<trace::Exchange>, Vec<(u64, usize)>) {
    let path = dir.join("framed.trace.zst");
    // Its compaction's scratch name taken, the finished file keeps the small frames a
    // recorder writes (the layout a crash leaves, here with its footer).
    std::fs::write(dir.join(".framed.trace.zst.compacting"), b"").unwrap();
    let xs = simple(12);
    let mut w = Writer::create(&path, &header()).unwrap();
    let mut bounds = vec![(w.stats().file_bytes, 0)];
    for (i, e) in xs.iter().enumerate() {
        w.append(e).unwrap();
        if i % 3 == 2 {
            w.flush().unwrap();
            bounds.push((w.stats().file_bytes, i + 1));
        }
    }
    let end = w
        .finish(&Footer {
            exchanges: 12,
            sessions: 3,
            dropped: 0,
        })
        .unwrap();
    assert!(!end.compacted);
    bounds.push((end.file_bytes, 12));
    (std::fs::read(&path).unwrap(), xs, bounds)
}

#[test]
fn a_file_cut_at_any_byte_recovers_every_complete_frame() {
    let dir = scratch_dir();
    let (bytes, xs, bounds) = framed_fixture(dir.path());
    let path = dir.path().join("cut.trace.zst");
    for cut in 0..=bytes.len() {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let header_end = bounds[0].0 as usize;
        let Ok(mut r) = Reader::open(&path) else {
            assert!(cut < header_end, "cut at {cut}: header frame was complete");
            continue;
        };
        assert!(cut >= header_end);
        let got: Vec<_> = r.by_ref().map(|e| e.unwrap()).collect();
        let integrity = r.integrity();
        // the last boundary at or before the cut
        let &(offset, complete) = bounds
            .iter()
            .rev()
            .find(|(b, _)| *b as usize <= cut)
            .unwrap();
        assert_eq!(got, xs[..complete], "cut at {cut}");
        if offset as usize == cut {
            assert_eq!(integrity.torn, None, "cut at {cut}");
        } else {
            assert_eq!(
                integrity.torn,
                Some(trace::TornTail {
                    offset,
                    recovered: complete as u64,
                    line: None,
                    why: integrity.torn.unwrap().why,
                }),
                "cut at {cut}"
            );
        }
        assert_eq!(
            integrity.footer.is_some(),
            cut == bytes.len(),
            "cut at {cut}"
        );
    }
}

#[test]
fn flipped_bytes_never_panic_nor_yield_a_corrupted_exchange() {
    let dir = scratch_dir();
    let (bytes, xs, _) = framed_fixture(dir.path());
    let path = dir.path().join("flip.trace.zst");
    let mut damaged_reads = 0;
    for at in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[at] ^= mask;
            std::fs::write(&path, &b).unwrap();
            let Ok(mut r) = Reader::open(&path) else {
                continue;
            };
            let got: Vec<_> = r.by_ref().map(|e| e.unwrap()).collect();
            assert_eq!(got, xs[..got.len()], "byte {at} ^ {mask:#x}");
            if got.len() < xs.len() || r.integrity().footer.is_none() {
                damaged_reads += 1;
            }
        }
    }
    // nearly every flip is noticed (a flip in a frame header's unused bits may not be)
    assert!(
        damaged_reads > bytes.len() * 2,
        "{damaged_reads} of {}",
        bytes.len() * 3
    );
}

#[test]
fn a_frame_that_decompresses_beyond_the_bound_is_damage() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "one.trace.zst", &simple(1), false);
    let mut bytes = std::fs::read(&good).unwrap();
    let header_and_one = bytes.len() as u64;
    // blank lines (which a reader would skip) past the bound: a zstd bomb of a few KiB
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    let block = vec![b'\n'; 1 << 20];
    for _ in 0..(trace::MAX_FRAME_BYTES >> 20) + 1 {
        enc.write_all(&block).unwrap();
    }
    bytes.extend(enc.finish().unwrap());
    bytes.extend(
        zstd::encode_all(
            format!(
                "{}\n",
                serde_json::to_string(&trace::Line::Exchange(simple(2).remove(1))).unwrap()
            )
            .as_bytes(),
            3,
        )
        .unwrap(),
    );
    let path = dir.path().join("bomb.trace.zst");
    std::fs::write(&path, &bytes).unwrap();
    let (got, integrity) = read_all(&path);
    assert_eq!(got, simple(1));
    assert_eq!(
        integrity.torn,
        Some(trace::TornTail {
            offset: header_and_one,
            recovered: 1,
            line: None,
            why: integrity.torn.unwrap().why,
        })
    );
}
