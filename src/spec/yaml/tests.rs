//! The tree builder on small documents, with a guide that records what it is handed.
use super::*;

/// A guide for tests: `expect` by path, and a record of what it was handed.
struct Recorder<F: Fn(&Path) -> Expect> {
    expect: F,
    duplicates: Vec<DuplicateKey>,
    unknown: Vec<String>,
    past_limit: Vec<String>,
    unread: Vec<(String, Unread)>,
}

impl<F: Fn(&Path) -> Expect> Guide for Recorder<F> {
    fn expect(&self, path: &Path) -> Expect {
        (self.expect)(path)
    }
    fn unknown_key(&mut self, mapping: &Path, key: &str, _: Pos, _: &'static [&'static str]) {
        self.unknown.push(mapping.key(key).to_string());
    }
    fn duplicate(&mut self, duplicate: DuplicateKey) {
        self.duplicates.push(duplicate);
    }
    fn past_limit(&mut self, collection: &Path, at: Seg, node: &Node) {
        let text = match &node.value {
            Value::Scalar { text, .. } => text.clone(),
            other => format!("{other:?}"),
        };
        self.past_limit
            .push(format!("{}: {text}", collection.with(at)));
    }
    fn unread_alias(&mut self, path: &Path, _: Pos, why: Unread) {
        self.unread.push((path.to_string(), why));
    }
}

fn recorder<F: Fn(&Path) -> Expect>(expect: F) -> Recorder<F> {
    Recorder {
        expect,
        duplicates: Vec::new(),
        unknown: Vec::new(),
        past_limit: Vec::new(),
        unread: Vec::new(),
    }
}

/// Lists at `…s` keys and list items, free mappings elsewhere, nothing kept past 1000.
fn anything(path: &Path) -> Expect {
    match path.segments().last() {
        Some(Seg::Key(key)) if key.ends_with('s') => Expect::List { keep: 1000 },
        Some(Seg::Index(_)) => Expect::Map { keep: 1000 },
        _ => Expect::Map { keep: 1000 },
    }
}

/// A recorder whose expectations are [`anything`].
type Anything = Recorder<fn(&Path) -> Expect>;

fn parse_all(text: &str) -> (Document, Anything) {
    let mut guide = recorder(anything as fn(&Path) -> Expect);
    let doc = parse(text, &mut guide).unwrap();
    (doc, guide)
}

fn entries(node: &Node) -> &[Entry] {
    let Value::Map(entries) = &node.value else {
        panic!("not a map: {node:?}")
    };
    entries
}

#[test]
fn positions_are_one_based() {
    let (doc, _) = parse_all("a: 1\nb:\n  c: x\n");
    let root = doc.root.unwrap();
    let top = entries(&root);
    assert_eq!(top[1].key_pos, Pos { line: 2, column: 1 });
    assert_eq!(
        entries(&top[1].value)[0].value.pos,
        Pos { line: 3, column: 6 }
    );
}

#[test]
fn duplicate_keys_are_reported_with_both_positions() {
    let (_, guide) = parse_all("bots:\n  - id: a\n    id: b\n");
    assert_eq!(guide.duplicates.len(), 1);
    let dup = &guide.duplicates[0];
    assert_eq!(dup.key, "id");
    assert_eq!(dup.path.to_string(), "bots[0]");
    assert_eq!((dup.pos.line, dup.first.line), (3, 2));
}

#[test]
fn quoted_scalars_are_not_plain() {
    let (doc, _) = parse_all("a: \"50\"\nb: 50\n");
    let root = doc.root.unwrap();
    let top = entries(&root);
    assert!(matches!(
        top[0].value.value,
        Value::Scalar { plain: false, .. }
    ));
    assert!(matches!(
        top[1].value.value,
        Value::Scalar { plain: true, .. }
    ));
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let mut guide = recorder(anything as fn(&Path) -> Expect);
    let text = "[".repeat(100_000);
    assert!(parse(&text, &mut guide).is_err());
    let block: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let err = parse(&block, &mut guide).err().expect("too deep");
    assert!(err.message.contains("nesting"), "{}", err.message);
    // Also where nothing is built.
    let mut scalars = recorder(|_: &Path| Expect::Scalar);
    let err = parse(&format!("a: {}", "[".repeat(100)), &mut scalars)
        .err()
        .expect("too deep");
    assert!(err.message.contains("nesting"), "{}", err.message);
}

#[test]
fn aliases_are_shared_not_copied() {
    let mut text = String::from("as: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..30 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}s: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let (_, guide) = parse_all(&text);
    // Each level stands for 8 times the one before: once the anchors hold, or the aliases stand for, more
    // than the bounds allow, each further alias is said and read as nothing.
    assert!(!guide.unread.is_empty());
    assert!(
        guide
            .unread
            .iter()
            .all(|(_, why)| matches!(why, Unread::TooManyValues | Unread::TooManyAnchors))
    );
}

#[test]
fn a_syntax_error_at_the_end_stays_on_its_line() {
    let mut guide = recorder(anything as fn(&Path) -> Expect);
    let err = parse(":\n|\n ééé", &mut guide).err().expect("not YAML");
    assert_eq!(err.pos, Pos { line: 3, column: 5 });
    let err = parse(":\r|\r\n ééé", &mut guide).err().expect("not YAML");
    assert_eq!(err.pos, Pos { line: 3, column: 5 });
}

#[test]
fn second_document_is_refused() {
    let mut guide = recorder(anything as fn(&Path) -> Expect);
    assert!(parse("a: 1\n---\nb: 2\n", &mut guide).is_err());
}

#[test]
fn empty_file_has_no_root() {
    assert!(parse_all("").0.root.is_none());
    assert!(parse_all("# only a comment\n").0.root.is_none());
}

#[test]
fn items_past_the_limit_are_handed_over_and_counted() {
    let mut guide = recorder(|path: &Path| match path.to_string().as_str() {
        "list" => Expect::List { keep: 2 },
        "tags" => Expect::Map { keep: 1 },
        _ => Expect::Map { keep: 10 },
    });
    let doc = parse(
        "list: [a, b, c, d]\ntags: {x: 1, y: 2, x: 3, y: 4}\n",
        &mut guide,
    )
    .unwrap();
    let root = doc.root.unwrap();
    let top = entries(&root);
    assert_eq!(top[0].value.past_limit, 2);
    assert_eq!(top[1].value.past_limit, 1);
    assert_eq!(guide.past_limit, ["list[2]: c", "list[3]: d", "tags.y: 2"]);
    // Duplicates are found on both sides of the limit.
    let keys: Vec<&str> = guide.duplicates.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["x", "y"]);
}

#[test]
fn unknown_keys_and_misplaced_collections_are_not_built() {
    const FIELDS: &[&str] = &["known", "one"];
    let mut guide = recorder(|path: &Path| match path.segments() {
        [] => Expect::Fields(FIELDS),
        _ => Expect::Scalar,
    });
    let text = "unknown: &u [1, {a: [2]}]\nknown: *u\none: [3, 4]\nother: x\n";
    let doc = parse(text, &mut guide).unwrap();
    assert_eq!(guide.unknown, ["unknown", "other"]);
    assert_eq!(guide.unread, [("known".to_string(), Unread::Skipped)]);
    let root = doc.root.unwrap();
    let top = entries(&root);
    assert_eq!(top.len(), 2);
    assert!(top[0].value.is_null());
    // The list where one value belongs is kept, empty, at its place: enough to say what it is.
    assert!(matches!(&top[1].value.value, Value::Seq(items) if items.is_empty()));
    assert_eq!(top[1].value.pos, Pos { line: 3, column: 6 });
}
