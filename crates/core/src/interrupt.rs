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

/// Installs the handler once; later calls do nothing. A signal this process
/// was started ignoring stays ignored: `nohup` ignores SIGHUP, and a shell
/// ignores SIGINT for `cmd &`, so that closing the terminal or pressing Ctrl-C
/// does not stop such a job.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let ignored: Vec<libc::c_int> = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
            .into_iter()
            .filter(|&s| is_ignored(s))
            .collect();
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        for s in ignored {
            // SAFETY: restores the disposition the process started with.
            unsafe { libc::signal(s, libc::SIG_IGN) };
        }
    });
}

/// Whether `signal` is set to be ignored (SIG_IGN).
fn is_ignored(signal: libc::c_int) -> bool {
    // SAFETY: queries the current action only (no new action is given);
    // `old` is a plain C struct for the kernel to fill.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Fails with `Error::Interrupted` once Ctrl-C was pressed.
pub fn check() -> crate::Result<()> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        Err(crate::Error::Interrupted)
    } else {
        Ok(())
    }
}
