//! The committed man pages and completions match what the CLI generates.

use std::path::Path;

use crate::util::*;

const SHELLS: [(&str, &str); 3] = [
    ("bash", "shieldpack.bash"),
    ("zsh", "_shieldpack"),
    ("fish", "shieldpack.fish"),
];

#[test]
fn committed_man_pages_and_completions_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let t = TestDir::new();
    run_ok(shieldpack().args(["generate", "man"]).arg(t.path()));
    let generated = files_under(t.path());
    assert!(generated.len() >= 5, "one page per command");
    let hint = "run scripts/gen-docs.sh and commit man/ and completions/";
    for f in &generated {
        let name = f.file_name().unwrap();
        let committed = std::fs::read(root.join("man").join(name))
            .unwrap_or_else(|_| panic!("man/{} missing: {hint}", name.to_string_lossy()));
        assert!(
            committed == std::fs::read(f).unwrap(),
            "man/{} is stale: {hint}",
            name.to_string_lossy()
        );
    }
    assert_eq!(
        files_under(&root.join("man")).len(),
        generated.len(),
        "man/ has pages for commands that no longer exist: {hint}"
    );
    for (shell, file) in SHELLS {
        let o = run_ok(shieldpack().args(["generate", "completions", shell]));
        let committed = std::fs::read(root.join("completions").join(file))
            .unwrap_or_else(|_| panic!("completions/{file} missing: {hint}"));
        assert!(committed == o.stdout, "completions/{file} is stale: {hint}");
    }
}
