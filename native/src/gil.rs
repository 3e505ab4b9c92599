//! Waiting without the GIL.

use std::sync::{Mutex, MutexGuard, TryLockError};

use pyo3::Python;

/// The lock, waited for without holding the GIL meanwhile: the thread holding it may need
/// the GIL to finish (a deadlock otherwise), and other Python threads run while we wait.
pub fn lock<'a, T>(py: Python<'_>, mutex: &'a Mutex<T>) -> MutexGuard<'a, T> {
    loop {
        match mutex.try_lock() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => py.detach(std::thread::yield_now),
        }
    }
}
