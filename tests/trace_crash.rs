//! Crash test: a writer process killed with SIGKILL loses at most its last second.
//!
//! The test binary re-executes itself: with `REPRISE_CRASH_WRITER=<path>` set, the
//! `crash_child_writer` test becomes the writer (appending exchanges steadily and printing
//! `wrote <id>` after each), and the parent kills it after ~2.5 s and reads the file.

mod trace_util;

use reprise::trace::{Header, Reader, Writer};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "REPRISE_CRASH_WRITER";

/// The child's role; without the variable (a normal `cargo test`) there is nothing to do.
#[test]
fn crash_child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mut w = Writer::create(path.as_ref(), &Header::new(Default::default())).unwrap();
    let start = Instant::now();
    // Bounded: the parent kills us long before this ends.
    for (id, x) in trace_util::simple(30_000).iter().enumerate() {
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
        w.append(x).unwrap();
        println!("wrote {id}");
        std::thread::sleep(Duration::from_millis(2));
        w.tick().unwrap();
    }
}

#[cfg(unix)]
#[test]
fn a_sigkilled_writer_loses_at_most_its_last_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.trace.zst");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Each id with the moment the parent saw it: never earlier than its write.
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("wrote ") {
                let _ = tx.send((id.parse::<u64>().unwrap(), Instant::now()));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(2500));
    let kill_at = Instant::now();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    lines.join().unwrap();
    let seen: Vec<(u64, Instant)> = rx.try_iter().collect();
    let safe = seen
        .iter()
        .filter(|(_, at)| kill_at.duration_since(*at) > Duration::from_secs(1))
        .count() as u64;
    assert!(
        safe > 50,
        "the child wrote too little to test anything ({safe})"
    );

    let mut reader = Reader::open(&path).unwrap();
    let ids: Vec<u64> = reader.by_ref().map(|x| x.unwrap().id).collect();
    let integrity = reader.integrity();
    eprintln!(
        "written {}, of which {safe} more than 1 s before the kill; recovered {}; torn {:?}",
        seen.len(),
        ids.len(),
        integrity.torn
    );
    assert_eq!(integrity.footer, None, "a killed writer leaves no footer");
    assert!(
        ids.len() as u64 >= safe,
        "recovered {} exchanges, but {safe} were written more than 1 s before the kill",
        ids.len()
    );
    assert_eq!(ids, (0..ids.len() as u64).collect::<Vec<_>>());
    assert!(
        ids.len() <= seen.len() + 1,
        "more exchanges than were written"
    );
    if let Some(torn) = integrity.torn {
        assert_eq!(torn.recovered, ids.len() as u64);
        assert!(torn.offset < std::fs::metadata(&path).unwrap().len());
    }
}
