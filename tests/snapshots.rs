//! Every template synthesized from `examples/` is pinned by an insta snapshot in `snapshots/`, so any
//! change to the generated CloudFormation shows up in review as a diff.
//! Update after an intended change: `INSTA_UPDATE=always cargo test --test integration snapshots::`, then review.

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

/// Bot stacks declare their outputs under the names publication/ reads them by
/// (`botpub::synth::outputs`), and across the examples every one of those names is declared.
#[test]
fn bot_templates_declare_the_outputs_botpub_reads() {
    use std::collections::BTreeSet;

    use botpub::synth::{StackKind, outputs};

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut declared = BTreeSet::new();
    for example in ["quickstart", "conversation", "domains", "full"] {
        let path = root.join(format!("examples/{example}.yaml"));
        let checked = check_files(std::slice::from_ref(&path));
        for stack in synthesize(&checked.specs[0]).unwrap() {
            if !matches!(stack.kind, StackKind::Bot { .. }) {
                continue;
            }
            for name in stack.template["Outputs"].as_object().unwrap().keys() {
                assert!(
                    outputs::ALL.contains(&name.as_str()),
                    "{example}: {} declares output {name}, which synth::outputs does not name",
                    stack.name
                );
                declared.insert(name.clone());
            }
        }
    }
    let named: BTreeSet<String> = outputs::ALL.iter().map(|s| s.to_string()).collect();
    assert_eq!(declared, named);
}
