//! Ctrl-C and SIGTERM, caught once for the whole command so that no signal is lost between two awaits:
//! a deployment stops waiting and says how to follow it, a worker stops receiving and finishes its work.

use std::sync::OnceLock;

use tokio::sync::watch;

/// The signal that stopped the run, once one arrived.
static SIGNAL: OnceLock<watch::Receiver<Option<(&'static str, u8)>>> = OnceLock::new();

/// Catches Ctrl-C and SIGTERM from the start of a command, so a signal that arrives mid-request is not lost
/// (and does not kill botpub before it can say how to follow the deployment). Call inside the runtime.
pub fn catch_signals() {
    let (sender, receiver) = watch::channel(None);
    if SIGNAL.set(receiver).is_err() {
        return;
    }
    tokio::spawn(async move {
        #[cfg(unix)]
        let caught = {
            let Ok(mut terminate) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => ("interrupted", 130),
                _ = terminate.recv() => ("terminated", 143),
            }
        };
        #[cfg(not(unix))]
        let caught = {
            let _ = tokio::signal::ctrl_c().await;
            ("interrupted", 130)
        };
        let _ = sender.send(Some(caught));
    });
}

/// Resolves once Ctrl-C or SIGTERM has arrived (now or since the run started); never without
/// [`catch_signals`].
pub async fn signalled() -> (&'static str, u8) {
    if let Some(mut receiver) = SIGNAL.get().cloned() {
        loop {
            if let Some(caught) = *receiver.borrow_and_update() {
                return caught;
            }
            if receiver.changed().await.is_err() {
                break;
            }
        }
    }
    std::future::pending().await
}
