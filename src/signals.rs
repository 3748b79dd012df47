//! Ctrl-C and SIGTERM, caught once for the whole command so that no signal is lost between two awaits:
//! a deployment stops waiting and says how to follow it, a worker stops receiving and finishes its work
//! (and a second signal stops it at once).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::watch;

/// The signals caught so far: how many, and the kind of the first (its name and exit code).
type Caught = (u32, Option<(&'static str, u8)>);

static SIGNALS: OnceLock<watch::Receiver<Caught>> = OnceLock::new();

/// Signals that waits no longer count (see [`only_new_signals`]).
static HEEDED: AtomicU32 = AtomicU32::new(0);

/// Catches Ctrl-C and SIGTERM from the start of a command, so a signal that arrives mid-request is not lost
/// (and does not kill botpub before it can say how to follow the deployment). Call inside the runtime.
pub fn catch_signals() {
    let (sender, receiver) = watch::channel((0, None));
    if SIGNALS.set(receiver).is_err() {
        return;
    }
    tokio::spawn(async move {
        #[cfg(unix)]
        let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        loop {
            #[cfg(unix)]
            let caught = tokio::select! {
                _ = tokio::signal::ctrl_c() => ("interrupted", 130),
                _ = terminate.recv() => ("terminated", 143),
            };
            #[cfg(not(unix))]
            let caught = {
                let _ = tokio::signal::ctrl_c().await;
                ("interrupted", 130)
            };
            sender.send_modify(|(count, first)| {
                *count += 1;
                first.get_or_insert(caught);
            });
        }
    });
}

/// Resolves once Ctrl-C or SIGTERM has arrived (now or since the run started) with the first signal's
/// name and exit code; never without [`catch_signals`].
pub async fn signalled() -> (&'static str, u8) {
    signalled_times(1).await
}

/// The first signal, if one has arrived; without waiting.
pub fn caught() -> Option<(&'static str, u8)> {
    SIGNALS.get().and_then(|receiver| receiver.borrow().1)
}

/// From now on, waits end only at a signal that arrives after this call: the clean-up that the first
/// Ctrl-C started must not be cut short by that same Ctrl-C, while a second one still stops it.
pub fn only_new_signals() {
    if let Some(receiver) = SIGNALS.get() {
        HEEDED.store(receiver.borrow().0, Ordering::SeqCst);
    }
}

/// Resolves once `times` signals have arrived (beyond those [`only_new_signals`] set aside), with the first
/// one's name and exit code.
pub async fn signalled_times(times: u32) -> (&'static str, u8) {
    if let Some(mut receiver) = SIGNALS.get().cloned() {
        loop {
            if let (count, Some(first)) = *receiver.borrow_and_update()
                && count >= times + HEEDED.load(Ordering::SeqCst)
            {
                return first;
            }
            if receiver.changed().await.is_err() {
                break;
            }
        }
    }
    std::future::pending().await
}
