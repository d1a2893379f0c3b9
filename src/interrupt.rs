//! Ctrl-C handling: the first SIGINT sets a flag that long loops poll through
//! `check()`, so they stop between units of work and clean up their temporary
//! files; the command then exits 130. A second signal exits at once.
//!
//! SIGTERM and SIGHUP are taken the same way: SIGTERM is how Kubernetes, CI
//! runners and systemd stop a job (and SIGKILL it a grace period later), and
//! SIGHUP comes with a closed terminal; dying at once would leave a staged
//! package of up to a whole title behind in the output folder.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler once; later calls do nothing.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    });
}

/// Fails with `Error::Interrupted` once Ctrl-C was pressed.
pub fn check() -> crate::Result<()> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        Err(crate::Error::Interrupted)
    } else {
        Ok(())
    }
}
