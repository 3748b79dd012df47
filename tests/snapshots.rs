//! Every template synthesized from `examples/` is pinned by an insta snapshot in `snapshots/`, so any
//! change to the generated CloudFormation shows up in review as a diff.
//! Update after an intended change: `INSTA_UPDATE=always cargo test --test snapshots`, then review.

use std::path::Path;

use botpub::spec::check_files;
use botpub::synth::synthesize;

#[test]
fn synthesized_example_templates_match_their_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut examples: Vec<_> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 3);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for example in examples {
            let checked = check_files(std::slice::from_ref(&example));
            assert!(
                !checked.has_errors(),
                "{}: {:?}",
                example.display(),
                checked.diagnostics
            );
            let example_name = example.file_stem().unwrap().to_string_lossy().to_string();
            for stack in synthesize(&checked.specs[0]).unwrap() {
                insta::assert_snapshot!(
                    format!("{example_name}__{}", stack.name),
                    stack.template_body()
                );
            }
        }
        // The toolkit stack does not come from a spec: `botpub bootstrap` makes it for a prefix.
        let toolkit = botpub::synth::toolkit(botpub::spec::model::DEFAULT_PREFIX).unwrap();
        insta::assert_snapshot!(
            format!("bootstrap__{}", toolkit.name),
            toolkit.template_body()
        );
    });
}
