//! Every template synthesized from `examples/` passes cfn-lint (no error, no warning) and checkov (no failed
//! check), run from pinned versions by tests/support/lint/lint.sh; each deliberate exception is a
//! suppression with a written reason in the resource's metadata, which the script also enforces.

use std::path::Path;
use std::process::Command;

use botpub::spec::check_files;
use botpub::synth::synthesize;

#[test]
fn example_templates_pass_cfn_lint_and_checkov() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let mut count = 0;
    let examples = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path());
    for example in examples.filter(|p| p.extension().is_some_and(|x| x == "yaml")) {
        let checked = check_files(&[example]);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        for stack in synthesize(&checked.specs[0]).unwrap() {
            std::fs::write(
                dir.path().join(format!("{}.template.json", stack.name)),
                stack.template_body(),
            )
            .unwrap();
            count += 1;
        }
    }
    // The toolkit stack of `botpub bootstrap`, for the default prefix.
    let toolkit = botpub::synth::toolkit(botpub::spec::model::DEFAULT_PREFIX).unwrap();
    std::fs::write(
        dir.path().join(format!("{}.template.json", toolkit.name)),
        toolkit.template_body(),
    )
    .unwrap();
    count += 1;
    assert!(count >= 7, "only {count} templates");
    let out = Command::new(root.join("tests/support/lint/lint.sh"))
        .arg(dir.path())
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "lint failed:\n{report}");
    assert!(
        report.contains(&format!("linting {count} templates")),
        "{report}"
    );
    assert!(
        report.contains("cfn-lint: ok")
            && report.contains("checkov: ok")
            && report.contains("audit: ok"),
        "{report}"
    );
}
