//! Fail points for the crash tests: places where a test driver has the engine killed.
//!
//! Built on the `fail` crate; without the `failpoints` feature (release builds) every
//! point compiles to nothing. With it, `CORVID_CRASH_AT=<name>:<n>` lets the point pass
//! n − 1 times and kills the process with SIGKILL on the n-th, as a crash would: no
//! destructor runs, no producer flushes, no file is closed. (`FAILPOINTS` with the
//! `fail` crate's own actions works too.)

/// The names, in the order a checkpoint reaches them.
pub const AFTER_STATE_WRITTEN: &str = "after_state_written";
pub const AFTER_MANIFEST: &str = "after_manifest_before_commit";
pub const IN_TRANSACTION: &str = "in_alerts_transaction";
pub const AFTER_LAKE_FILE: &str = "after_lake_file";

/// Kills this process at once.
pub fn crash(point: &str) -> ! {
    tracing::warn!(point, "fail point reached: killing the process");
    // SAFETY: kill(2) with our own pid and SIGKILL has no memory-safety preconditions.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    loop {
        std::thread::park();
    }
}

/// A fail point: with the `failpoints` feature and the point configured, the process
/// dies here.
#[macro_export]
macro_rules! fail_point {
    ($name:expr) => {
        fail::fail_point!($name)
    };
}

/// Arms the fail points from `CORVID_CRASH_AT` and `FAILPOINTS` (only with the
/// `failpoints` feature); keep the guard for the life of the process.
pub fn setup() -> Option<fail::FailScenario<'static>> {
    if !cfg!(feature = "failpoints") {
        return None;
    }
    let scenario = fail::FailScenario::setup();
    if let Ok(spec) = std::env::var("CORVID_CRASH_AT") {
        let (name, nth) = match spec.split_once(':') {
            Some((name, nth)) => (name.to_owned(), nth.parse::<u64>().unwrap_or(1)),
            None => (spec.clone(), 1),
        };
        let hits = std::sync::atomic::AtomicU64::new(0);
        let point = name.clone();
        let armed = fail::cfg_callback(name.clone(), move || {
            let hit = hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if hit >= nth {
                crash(&point);
            }
        });
        match armed {
            Ok(()) => tracing::warn!(point = name, nth, "fail point armed"),
            Err(error) => tracing::error!(point = name, %error, "fail point not armed"),
        }
    }
    Some(scenario)
}
