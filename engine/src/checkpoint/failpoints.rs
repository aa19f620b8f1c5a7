//! Fail points for the crash tests: places where a test driver has the engine killed.
//!
//! Built on the `fail` crate; without the `failpoints` feature (release builds) every
//! point compiles to nothing. With it, `FAILPOINTS="<name>=N*off->return"` lets a point
//! pass N times and then kills the process with SIGKILL, as a crash would: no
//! destructor runs, no producer flushes, no file is closed.

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
        fail::fail_point!($name, |_| -> () {
            $crate::checkpoint::failpoints::crash($name)
        })
    };
}

/// Reads `FAILPOINTS` (only with the `failpoints` feature); keep the guard for the life
/// of the process.
pub fn setup() -> Option<fail::FailScenario<'static>> {
    if cfg!(feature = "failpoints") {
        Some(fail::FailScenario::setup())
    } else {
        None
    }
}
