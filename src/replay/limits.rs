//! The open-files limit of a replay: raised to the hard limit at start, checked against the
//! connections the run will hold before the first virtual user starts.
//!
//! Each virtual user holds one connection (one file descriptor); the process also needs a
//! few dozen more for the runtime, the recording and the report ([`RESERVED_FILES`]).
//! 10,000 users with the common default soft limit of 1,024 would fail one connect in ten
//! mid-run with `EMFILE`, which looks like a target failure; instead the run refuses to
//! start and says how many files it needs and how to get them.
//!
//! # Invariants
//! - [`raise_open_files`] only ever raises the soft limit, never lowers it, and never
//!   touches the hard limit (raising that needs privileges the user grants explicitly).
//! - [`check_open_files`] is pure: the decision is testable without touching the process.

/// Descriptors a run needs besides one per virtual user: runtime, stdio, recording, report.
pub const RESERVED_FILES: u64 = 64;

/// Soft and hard `RLIMIT_NOFILE`; `u64::MAX` stands for unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the open-files limit: {0}")]
    Read(#[source] std::io::Error),
    #[error(
        "{users} virtual users need {need} open files, but this process may open only {soft} \
         (hard limit {hard}); raise the limit before the run, e.g. `ulimit -n {need}` in the \
         shell (as root `ulimit -Hn {need}` first, or set `nofile` in \
         /etc/security/limits.conf, or `LimitNOFILE={need}` in a systemd unit), or run fewer \
         users per process with `--shard`"
    )]
    TooFew {
        users: u64,
        need: u64,
        soft: u64,
        hard: u64,
    },
}

/// The current limit.
pub fn open_files() -> Result<OpenFiles, Error> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 {
        return Err(Error::Read(std::io::Error::last_os_error()));
    }
    Ok(OpenFiles {
        soft: to_u64(lim.rlim_cur),
        hard: to_u64(lim.rlim_max),
    })
}

/// Raises the soft open-files limit to the hard limit (or to the kernel's `fs.nr_open` when
/// the hard limit is above it, e.g. unlimited) and returns the limit now in force. When the
/// kernel refuses, the old limit is returned: the caller's [`check_open_files`] then tells
/// the user what is missing.
pub fn raise_open_files() -> Result<OpenFiles, Error> {
    let now = open_files()?;
    if now.soft >= now.hard {
        return Ok(now);
    }
    let mut targets = vec![now.hard];
    if let Some(nr_open) = kernel_nr_open() {
        if nr_open < now.hard && nr_open > now.soft {
            targets.push(nr_open);
        }
    }
    for target in targets {
        let lim = libc::rlimit {
            rlim_cur: from_u64(target),
            rlim_max: from_u64(now.hard),
        };
        // SAFETY: setrlimit reads one `rlimit` through a valid pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
            break;
        }
    }
    open_files()
}

/// The kernel's ceiling on a process's descriptors (`/proc/sys/fs/nr_open`).
fn kernel_nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Descriptors a run of `users` virtual users needs.
pub fn files_needed(users: u64) -> u64 {
    users.saturating_add(RESERVED_FILES)
}

/// Whether `users` connections fit in `limit`; the error says how many are needed and how
/// to raise the limit.
pub fn check_open_files(users: u64, limit: OpenFiles) -> Result<(), Error> {
    let need = files_needed(users);
    if limit.soft >= need {
        return Ok(());
    }
    Err(Error::TooFew {
        users,
        need,
        soft: limit.soft,
        hard: limit.hard,
    })
}

fn to_u64(v: libc::rlim_t) -> u64 {
    if v == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        v
    }
}

fn from_u64(v: u64) -> libc::rlim_t {
    if v == u64::MAX {
        libc::RLIM_INFINITY
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enough_files_pass_and_too_few_name_the_number_needed() {
        let lim = OpenFiles {
            soft: 1024,
            hard: 4096,
        };
        assert!(check_open_files(900, lim).is_ok());
        let err = check_open_files(10_000, lim).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("10000 virtual users need 10064 open files"),
            "{msg}"
        );
        assert!(msg.contains("only 1024 (hard limit 4096)"), "{msg}");
        assert!(msg.contains("ulimit -n 10064"), "{msg}");
    }

    #[test]
    fn unlimited_fits_anything() {
        let lim = OpenFiles {
            soft: u64::MAX,
            hard: u64::MAX,
        };
        assert!(check_open_files(u64::MAX, lim).is_ok());
    }

    #[test]
    fn raising_reaches_the_hard_limit_and_never_lowers() {
        let before = open_files().unwrap();
        let after = raise_open_files().unwrap();
        assert_eq!(after.hard, before.hard);
        assert!(after.soft >= before.soft);
        // any process may raise its soft limit up to the hard limit (or the kernel's ceiling)
        let ceiling = kernel_nr_open().unwrap_or(u64::MAX).min(after.hard);
        assert!(after.soft >= ceiling, "{after:?}, ceiling {ceiling}");
    }
}
