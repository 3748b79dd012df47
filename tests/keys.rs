//! API keys on LocalStack: a created key opens the API and a deleted one no longer does; one bot's key id
//! cannot be deleted through another bot; and a key's value appears only where the user asked for it.

use crate::common;

use common::{World, http};

#[test]
fn key_lifecycle_and_where_a_value_may_appear() {
    let world = World::new();
    let bots = "  - id: keyed\n    allowed_origins: [\"https://app.example.com\"]\n  - id: other\n    allowed_origins: [\"https://app.example.com\"]\n";
    let spec = world.spec("keys.yaml", bots);
    world.publish(&spec).expect(0);
    let status = world
        .botpub_bot("status", "keyed", &["--output", "json"])
        .expect(0)
        .json();
    let api = world.api_url(&status);
    let message = Some(r#"{"message": "hello"}"#);

    // Create: id and value, once.
    let created = world
        .botpub(&[
            "keys",
            "create",
            "keyed",
            "--prefix",
            &world.prefix,
            "--description",
            "web app",
            "--output",
            "json",
            "-v",
        ])
        .expect(0);
    let key = created.json();
    let (id, value) = (
        key["id"].as_str().unwrap().to_string(),
        key["value"].as_str().unwrap().to_string(),
    );
    assert_eq!(key["description"], "web app");
    assert_eq!(key["enabled"], true);
    assert!(key["created_date"].as_i64().unwrap() > 1_600_000_000);
    assert!(
        created.stderr().contains("Store the value now"),
        "{}",
        created.stderr()
    );
    assert!(
        !created.stderr().contains(&value),
        "the verbose request log must not carry the value"
    );

    let accepted = http(
        "POST",
        &format!("{api}/predict"),
        &[("x-api-key", &value)],
        message,
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);

    // Listing and reading never show the value unless --reveal is given.
    let mut outputs = Vec::new();
    for args in [
        vec!["keys", "list", "keyed"],
        vec!["keys", "list", "keyed", "--output", "json", "-v"],
        vec!["keys", "get", "keyed", &id],
        vec!["keys", "get", "keyed", &id, "--output", "json", "-v"],
        vec!["status", "keyed", "--output", "json", "-v"],
        vec!["list", "-v"],
        vec!["plan", spec.to_str().unwrap(), "-v"],
    ] {
        let mut args = args.clone();
        if args[0] != "plan" && args[0] != "list" {
            args.extend(["--prefix", &world.prefix]);
        }
        let run = world.botpub(&args);
        assert!(run.code() == 0, "{args:?}: {}", run.stderr());
        outputs.push((args.join(" "), run.stdout() + &run.stderr()));
    }
    for (command, text) in &outputs {
        assert!(!text.contains(&value), "`{command}` printed the key value");
    }
    let listed = world
        .botpub(&[
            "keys",
            "list",
            "keyed",
            "--prefix",
            &world.prefix,
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    let ids: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "the default key and the new one: {listed:#}");
    assert!(ids.contains(&id.as_str()));
    let masked = world
        .botpub(&[
            "keys",
            "get",
            "keyed",
            &id,
            "--prefix",
            &world.prefix,
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert!(
        masked["value"]
            .as_str()
            .unwrap()
            .ends_with(&value[value.len() - 4..])
    );
    let revealed = world
        .botpub(&[
            "keys",
            "get",
            "keyed",
            &id,
            "--prefix",
            &world.prefix,
            "--reveal",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(revealed["value"], value.as_str());
    for snapshot in std::fs::read_dir(common::root().join("snapshots")).unwrap() {
        let text = std::fs::read_to_string(snapshot.unwrap().path()).unwrap();
        assert!(!text.contains(&value));
    }

    // Another bot's key id is refused: one bot's owner cannot delete another's key.
    let other = world
        .botpub_bot("status", "other", &["--output", "json"])
        .expect(0)
        .json();
    let other_key = other["api_key_ids"][0].as_str().unwrap().to_string();
    let refused = world
        .botpub(&[
            "keys",
            "delete",
            "keyed",
            &other_key,
            "--prefix",
            &world.prefix,
            "--yes",
        ])
        .expect(1);
    assert!(
        refused
            .stderr()
            .contains(&format!("key {other_key} is not a key of keyed")),
        "{}",
        refused.stderr()
    );
    let still = world
        .botpub_bot("status", "other", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(still["api_key_ids"][0], other_key.as_str());

    // Rotate: a new key works at once and the old one keeps working until it is deleted.
    let rotated = world
        .botpub(&[
            "keys",
            "rotate",
            "keyed",
            &id,
            "--prefix",
            &world.prefix,
            "--output",
            "json",
        ])
        .expect(0);
    let new_value = rotated.json()["value"].as_str().unwrap().to_string();
    assert!(
        rotated
            .stderr()
            .contains(&format!("botpub keys delete keyed {id}")),
        "{}",
        rotated.stderr()
    );
    assert!(
        rotated.stderr().contains(&format!(
            "Answers belong to the key that asked: poll requests made with {id} with {id}"
        )),
        "rotate says what it means for answers in flight: {}",
        rotated.stderr()
    );
    for v in [&value, &new_value] {
        assert_eq!(
            http(
                "POST",
                &format!("{api}/predict"),
                &[("x-api-key", v)],
                message
            )
            .status,
            202
        );
    }

    // Delete: asks first, then the key is refused by the API.
    world
        .botpub(&["keys", "delete", "keyed", &id, "--prefix", &world.prefix])
        .expect(4);
    world
        .botpub(&[
            "keys",
            "delete",
            "keyed",
            &id,
            "--prefix",
            &world.prefix,
            "--yes",
        ])
        .expect(0);
    let rejected = http(
        "POST",
        &format!("{api}/predict"),
        &[("x-api-key", &value)],
        message,
    );
    assert_eq!(rejected.status, 403, "{}", rejected.body);
    assert_eq!(
        http(
            "POST",
            &format!("{api}/predict"),
            &[("x-api-key", &new_value)],
            message
        )
        .status,
        202
    );

    // Keys of a bot that is not published: refused as blocked.
    world
        .botpub(&["keys", "list", "nobody", "--prefix", &world.prefix])
        .expect(4);
}
