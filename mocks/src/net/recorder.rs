//! Shared state that sessions record into and a mock handle waits on: a mutex-guarded value
//! plus a watch channel that is bumped after every change.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

pub(crate) struct Recorder<T> {
    state: Mutex<T>,
    changed: watch::Sender<u64>,
}

impl<T> Recorder<T> {
    pub(crate) fn new(state: T) -> Recorder<T> {
        let (changed, _) = watch::channel(0u64);
        Recorder {
            state: Mutex::new(state),
            changed,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        // A panicking session cannot leave the plain data in a state worse than "partial".
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that sees a new value after every change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Applies `f` to the state and wakes waiters.
    pub(crate) fn record<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let r = f(&mut self.lock());
        self.changed.send_modify(|v| *v += 1);
        r
    }

    /// A clone of the part of the state that `view` selects.
    pub(crate) fn snapshot<S: Clone>(&self, view: impl Fn(&T) -> &S) -> S {
        view(&self.lock()).clone()
    }

    /// Waits until `done` holds for the part of the state that `view` selects, or `timeout`
    /// passed; returns a snapshot of that part either way.
    pub(crate) async fn wait_until<S: Clone>(
        &self,
        timeout: Duration,
        view: impl Fn(&T) -> &S,
        done: impl Fn(&S) -> bool,
    ) -> S {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            {
                let state = self.lock();
                let part = view(&state);
                if done(part) {
                    return part.clone();
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return self.snapshot(view),
            }
        }
    }
}
