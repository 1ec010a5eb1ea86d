//! Real-time scheduling for the replay's worker threads (`--realtime`).
//!
//! A worker's deadlines are exact to the microsecond on an idle core ([`super::timer`]),
//! but on a busy machine the kernel's fair scheduler may leave a woken worker waiting for a
//! core for several milliseconds — every think time then comes out late by that much. With
//! `--realtime` each worker thread runs under `SCHED_FIFO` at [`PRIORITY`]: a woken worker
//! preempts every ordinary (`SCHED_OTHER`) thread on its core at once. The kernel's RT
//! throttling (`/proc/sys/kernel/sched_rt_runtime_us`, 95 % by default) still leaves the
//! other processes a share of each core, so a saturated replay cannot lock the machine up.
//!
//! # Invariants
//! - [`check`] is called before any load: a refused request is an error naming what is
//!   needed, never a run that silently keeps ordinary priority.
//! - [`raise`] changes only the calling thread (Linux `sched_setscheduler(0, …)` acts on
//!   the thread, not the process); threads it spawns afterwards inherit the policy.

use std::io;

/// The `SCHED_FIFO` priority the workers take: low in the 1–99 range, so kernel threads
/// and a target that runs at real-time priority itself still come first.
pub const PRIORITY: i32 = 10;

/// Puts the calling thread under `SCHED_FIFO` at [`PRIORITY`].
pub fn raise() -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: PRIORITY,
    };
    // SAFETY: `param` is a valid sched_param for the duration of the call; pid 0 is the
    // calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The calling thread's scheduling policy (`libc::SCHED_*`).
pub fn policy() -> i32 {
    // SAFETY: no arguments besides the calling thread's pid 0.
    unsafe { libc::sched_getscheduler(0) }
}

/// Whether this process may run threads under `SCHED_FIFO`: tries it on a scratch thread
/// (which then ends), so the caller's own thread keeps its policy.
pub fn check() -> Result<(), String> {
    let probe = std::thread::Builder::new()
        .name("realtime-probe".into())
        .spawn(raise)
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    match probe.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "the kernel refused SCHED_FIFO priority {PRIORITY} ({e}); run as root, grant \
             CAP_SYS_NICE (setcap cap_sys_nice+ep), or raise the rtprio limit (`ulimit -r \
             {PRIORITY}`), or drop --realtime"
        )),
        Err(_) => Err("the probe thread panicked".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_changes_only_the_calling_thread() {
        let before = policy();
        let allowed = check().is_ok();
        let t = std::thread::spawn(|| (raise().is_ok(), policy()))
            .join()
            .unwrap();
        assert_eq!(t.0, allowed, "check() and raise() agree");
        if allowed {
            assert_eq!(t.1, libc::SCHED_FIFO);
        } else {
            assert_ne!(t.1, libc::SCHED_FIFO);
        }
        assert_eq!(policy(), before, "the caller's policy is unchanged");
    }
}
