//! The one integration-test binary: every end-to-end test of the shieldpack CLI
//! lives in a module here (one binary links and starts once, and the modules
//! share `util`). Add a module per feature, e.g. `mod package;`.

mod util;

mod harness;
