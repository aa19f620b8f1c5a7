//! Interrupting Python calls that run past their time: one watchdog thread per process.
//!
//! ```text
//!   evaluating thread                      watchdog thread (spawned on first use)
//!   ─────────────────                      ──────────────────────────────────────
//!   guard = arm(timeout)   deadline ──▶ slot (atomic, one per evaluating thread)
//!   rule(event) … loops                    every tick: any armed slot past its deadline?
//!                                          ─ yes: attach to the interpreter, check again,
//!                                            PyThreadState_SetAsyncExc(thread, RuleTimeout)
//!   ◀── RuleTimeout raised inside the call
//!   guard.disarm() ──▶ fired? (then the call is a timeout whatever it returned)
//! ```
//!
//! Per call the evaluating thread only reads the clock and stores two atomics: no thread
//! is spawned, no lock taken. Why the watchdog's check is sound: it sets the exception
//! only while attached to the interpreter (holding the GIL) and only for a slot still
//! armed. An evaluating thread arms and disarms while it holds the GIL and gives the GIL
//! up only while Python code runs inside the armed call, so a slot the watchdog sees
//! armed belongs to a thread that is inside that call. An exception that was set but not
//! yet raised when the call returned is cleared by [`Armed::disarm`].
//!
//! A rule that catches the exception (`except Exception:`) and keeps looping gets it
//! again every tick after its deadline; its result is discarded either way.

use std::os::raw::{c_long, c_ulong};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyType;

/// How often the watchdog looks at the armed slots.
const TICK: Duration = Duration::from_millis(5);

/// One evaluating thread's deadline.
struct Slot {
    /// Nanoseconds since [`origin`] after which the running call is interrupted; 0 = idle.
    deadline: AtomicU64,
    /// Set by the watchdog when it raised the timeout in this thread.
    fired: AtomicBool,
    /// `PyThread_get_thread_ident()` of the owning thread.
    thread: c_ulong,
}

struct Registry {
    slots: Mutex<Vec<Weak<Slot>>>,
}

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(origin().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        std::thread::Builder::new()
            .name("corvid-rule-watchdog".into())
            .spawn(watch)
            .expect("spawn the rule watchdog thread");
        Registry {
            slots: Mutex::new(Vec::new()),
        }
    })
}

thread_local! {
    static SLOT: Arc<Slot> = {
        // SAFETY: reads the calling thread's identifier; no Python state is touched.
        let thread = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
        let slot = Arc::new(Slot {
            deadline: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            thread,
        });
        registry()
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&slot));
        slot
    };
}

/// The exception class raised in a call that ran too long (`support.RuleTimeout`).
pub(crate) type TimeoutClass = Py<PyType>;

static TIMEOUT_CLASS: OnceLock<TimeoutClass> = OnceLock::new();

/// Sets the exception class the watchdog raises; the first call wins.
pub(crate) fn set_timeout_class(class: TimeoutClass) {
    let _ = TIMEOUT_CLASS.set(class);
}

/// The calling thread's deadline, armed for one call.
pub(crate) struct Armed {
    slot: Arc<Slot>,
}

/// Arms the calling thread's deadline `timeout` from now. Call with the GIL held.
pub(crate) fn arm(timeout: Duration) -> Armed {
    let slot = SLOT.with(Arc::clone);
    slot.fired.store(false, Ordering::Relaxed);
    let deadline = now_nanos()
        .saturating_add(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX))
        .max(1);
    slot.deadline.store(deadline, Ordering::Release);
    Armed { slot }
}

impl Armed {
    /// Ends the armed call; `true` when the watchdog interrupted it. Call with the GIL held.
    pub(crate) fn disarm(self, _py: Python<'_>) -> bool {
        self.slot.deadline.store(0, Ordering::Release);
        let fired = self.slot.fired.swap(false, Ordering::AcqRel);
        if fired {
            // SAFETY: attached to the interpreter (the `Python` token); a NULL exception
            // clears one that was set for this thread but not raised yet.
            unsafe {
                pyo3::ffi::PyThreadState_SetAsyncExc(
                    self.slot.thread as c_long,
                    std::ptr::null_mut(),
                );
            }
        }
        fired
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        // Disarmed without `disarm` (a panic on the way): never interrupt later code.
        self.slot.deadline.store(0, Ordering::Release);
    }
}

/// The watchdog loop.
fn watch() {
    loop {
        std::thread::sleep(TICK);
        let expired: Vec<Arc<Slot>> = {
            let mut slots = registry()
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            slots.retain(|slot| slot.strong_count() > 0);
            let now = now_nanos();
            slots
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|slot| {
                    let deadline = slot.deadline.load(Ordering::Acquire);
                    deadline != 0 && deadline < now
                })
                .collect()
        };
        if expired.is_empty() {
            continue;
        }
        let Some(class) = TIMEOUT_CLASS.get() else {
            continue;
        };
        Python::attach(|py| {
            let now = now_nanos();
            for slot in expired {
                // Checked again while attached: see the module documentation.
                let deadline = slot.deadline.load(Ordering::Acquire);
                if deadline == 0 || deadline >= now {
                    continue;
                }
                slot.fired.store(true, Ordering::Release);
                // SAFETY: attached to the interpreter; the class object outlives the call
                // (it is kept in a static) and SetAsyncExc takes its own reference.
                unsafe {
                    pyo3::ffi::PyThreadState_SetAsyncExc(
                        slot.thread as c_long,
                        class.bind(py).as_ptr(),
                    );
                }
            }
        });
    }
}
