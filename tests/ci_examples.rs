//! The ready-made pipelines in examples/ci/ pass actionlint and GitHub's and GitLab's schemas
//! (tests/support/ci-lint/check.sh), do what the README says (plan on review, apply exactly the
//! reviewed plan, OIDC instead of keys), and the checks are not blind: a broken copy fails them.

use std::path::Path;
use std::process::Command;

fn check(dir: &Path) -> (bool, String) {
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/ci-lint/check.sh"
    ))
    .arg(dir)
    .output()
    .expect("check.sh runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ci"))
}

#[test]
fn the_example_pipelines_pass_actionlint_and_their_schemas() {
    let (ok, text) = check(examples());
    assert!(ok, "{text}");
    assert!(text.contains("actionlint: ok"), "{text}");
    assert_eq!(text.matches("ok -- validation done").count(), 2, "{text}");
}

#[test]
fn a_broken_pipeline_fails_the_checks() {
    for (file, from, to, says) in [
        (
            "github-actions.yml",
            "botpub apply plan.json --progress events",
            "botpub apply ${{ steps.missing.outputs.plan }}",
            "property \"missing\" is not defined",
        ),
        (
            "gitlab-ci.yml",
            "  stage: apply\n",
            "  stage: apply\n  when: sometimes\n",
            "is not one of",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        for name in ["github-actions.yml", "gitlab-ci.yml"] {
            let mut text = std::fs::read_to_string(examples().join(name)).unwrap();
            if name == file {
                assert!(text.contains(from));
                text = text.replace(from, to);
            }
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let (ok, text) = check(dir.path());
        assert!(!ok && text.contains(says), "{file}: {text}");
    }
}

#[test]
fn the_pipelines_plan_for_review_and_apply_exactly_the_reviewed_plan_with_oidc() {
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let text = std::fs::read_to_string(examples().join(name)).unwrap();
        for needed in [
            "botpub validate specs/*.yaml",
            "botpub plan specs/*.yaml --out plan.json --output markdown > plan.md",
            "botpub apply plan.json",
        ] {
            assert!(text.contains(needed), "{name} lacks `{needed}`");
        }
        assert!(
            !text.contains("aws-access-key-id") && !text.contains("AWS_SECRET_ACCESS_KEY"),
            "{name}"
        );
    }
    let github = std::fs::read_to_string(examples().join("github-actions.yml")).unwrap();
    assert!(github.contains("id-token: write") && github.contains("role-to-assume"));
    assert!(
        github.contains("GITHUB_STEP_SUMMARY") && github.contains("actions/upload-artifact@v4")
    );
    let gitlab = std::fs::read_to_string(examples().join("gitlab-ci.yml")).unwrap();
    assert!(gitlab.contains("id_tokens:") && gitlab.contains("AWS_WEB_IDENTITY_TOKEN_FILE"));
}
