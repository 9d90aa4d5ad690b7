//! The runtime's layers, checked: every `crate::…` path in
//! `observe-runtime/src` names a layer its own file may use
//! (ARCHITECTURE.md). A path into a layer above fails the test with the file,
//! the line and the path, so the layering survives the next feature.

use std::fs;
use std::path::{Path, PathBuf};

/// Each layer and the layers below it that it may use, bottom to top.
const LAYERS: &[(&str, &[&str])] = &[
    ("core", &[]),
    ("hot", &["core"]),
    ("store", &["core", "hot"]),
    ("export", &["core", "hot", "store"]),
    ("signals", &["core", "hot", "store"]),
    ("edges", &["core", "hot", "store", "export", "signals"]),
    (
        "init",
        &["core", "hot", "store", "export", "signals", "edges"],
    ),
];

fn runtime_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../observe-runtime/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("the runtime's sources are readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line: without its `//` comment (doc comments included) and
/// without string literals, so prose and messages that mention a path do
/// not count.
fn code_of(line: &str) -> String {
    let mut code = String::new();
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '/' if !in_string && chars.peek() == Some(&'/') => break,
            _ if in_string => {}
            _ => code.push(c),
        }
    }
    code
}

/// The first segment after each `crate::` in `code`, skipping `$crate::`
/// (a macro's path to the crate root, which resolves in the user's crate).
fn crate_paths(code: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "crate::".len()..];
        let is_word_start = !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        if is_word_start {
            let segment: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let path: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '{' | ','))
                .collect();
            found.push((segment, format!("crate::{path}")));
        }
        rest = after;
    }
    found
}

fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let layer_names: Vec<&str> = LAYERS.iter().map(|(name, _)| *name).collect();
    let mut out = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src");
        let shown = Path::new("observe-runtime/src").join(relative);
        let Some(first) = relative.components().next() else {
            continue;
        };
        let first = first.as_os_str().to_string_lossy();
        if relative == Path::new("lib.rs") {
            // The crate root only re-exports the layers.
            continue;
        }
        let Some((layer, allowed)) = LAYERS.iter().find(|(name, _)| *name == first) else {
            out.push(format!(
                "{}: not inside a layer; put it in one of {layer_names:?}",
                shown.display()
            ));
            continue;
        };
        let text = fs::read_to_string(&file).expect("a source file is text");
        for (number, line) in text.lines().enumerate() {
            for (segment, path) in crate_paths(&code_of(line)) {
                let is_layer = layer_names.contains(&segment.as_str());
                let ok = segment == *layer || allowed.contains(&segment.as_str());
                if is_layer && !ok {
                    out.push(format!(
                        "{}:{}: `{path}` reaches layer `{segment}`, which `{layer}` may not use \
                         (it may use {allowed:?})",
                        shown.display(),
                        number + 1,
                    ));
                } else if !is_layer && !segment.starts_with("__") {
                    // `__private` and `#[macro_export]` macros live at the
                    // root by necessity; anything else there is a re-export.
                    out.push(format!(
                        "{}:{}: `{path}` goes through the crate root's re-exports; name the \
                         layer (`crate::{{layer}}::…`)",
                        shown.display(),
                        number + 1,
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn no_runtime_module_uses_a_layer_above_its_own() {
    let found = violations(&runtime_src());
    assert!(
        found.is_empty(),
        "imports against the layering of ARCHITECTURE.md:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_an_upward_import() {
    let dir = std::env::temp_dir().join(format!("observe-layering-{}", std::process::id()));
    let hot = dir.join("hot");
    fs::create_dir_all(&hot).unwrap();
    fs::write(
        hot.join("span.rs"),
        "// crate::init in a comment is fine\n\
         use crate::core::health;\n\
         use crate::export::Pipeline;\n\
         fn f() { let _ = \"crate::signals\"; crate::signals::metrics::render(); }\n",
    )
    .unwrap();
    fs::write(dir.join("stray.rs"), "").unwrap();
    let found = violations(&dir);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].starts_with("observe-runtime/src/hot/span.rs:3: `crate::export::Pipeline`"));
    assert!(found[1]
        .starts_with("observe-runtime/src/hot/span.rs:4: `crate::signals::metrics::render`"));
    assert!(found[2].starts_with("observe-runtime/src/stray.rs: not inside a layer"));
}
