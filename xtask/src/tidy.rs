//! `cargo xtask tidy`: structural checks on the workspace's crates. The
//! top-level modules of a crate (`src/foo.rs` or `src/foo/…` is `foo`)
//! must not depend on each other in a cycle through `crate::` paths; and no
//! code creates a VM with kvm-ioctls' `create_vm()` (ARCHITECTURE.md: every
//! VM is KVM_CREATE_VM of type 0, `kvmtest::kvm::create_default_vm`).
//!
//! The checker reads source text, not the compiler's view: it strips
//! comments and string literals, then takes every `crate::NAME` path (also
//! inside `use crate::{a, b::c}` groups) whose NAME is a top-level module.
//! `super::` paths are not followed: inside a directory they stay within one
//! top-level module, and a top-level file reaches a sibling with `crate::`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::util::root;
use crate::Result;

/// Check that no crate's top-level modules depend on each other in a cycle
///
/// Checks harness/src, xtask/src and bench/src.
#[derive(clap::Args, Debug, Default)]
pub struct Args {}

/// The crates `cargo xtask tidy` checks (source directories under the root).
pub const CHECKED_SRC_DIRS: &[&str] = &["harness/src", "xtask/src", "bench/src"];

/// The source directories no `create_vm()` call may appear in.
pub const VM_CREATING_DIRS: &[&str] = &["harness/src", "tests", "bench/src"];

pub fn tidy(_: &Args) -> Result {
    let root = root();
    let mut found = 0;
    for dir in VM_CREATING_DIRS {
        for place in host_ipa_vm_creations(&root.join(dir))? {
            println!("tidy: {dir}/{place}: kvm-ioctls' create_vm() asks for the host's largest IPA; use kvmtest::kvm::create_default_vm");
            found += 1;
        }
    }
    for dir in CHECKED_SRC_DIRS {
        let cycles = module_cycles(&root.join(dir))?;
        if cycles.is_empty() {
            println!("tidy: {dir}: no module cycle");
        }
        for c in &cycles {
            println!("tidy: {dir}: module cycle {c}");
        }
        found += cycles.len();
    }
    match found {
        0 => Ok(()),
        n => Err(format!("{n} finding(s): module cycles (make the dependencies point one way) or create_vm() calls")),
    }
}

/// `file:line` of every `.create_vm()` call (comments and strings aside) in
/// the Rust files under `dir`.
pub fn host_ipa_vm_creations(dir: &Path) -> Result<Vec<String>> {
    let mut places = Vec::new();
    for file in rust_files(dir)? {
        let path = dir.join(&file);
        let code = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let code = strip_comments_and_strings(&code);
        for (n, line) in code.lines().enumerate() {
            if line.contains(".create_vm()") {
                places.push(format!("{}:{}", file.display(), n + 1));
            }
        }
    }
    Ok(places)
}

/// One edge of the module graph: `from` names `crate::to` in `files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The files of `from` that name `to`, relative to the src directory.
    pub files: Vec<PathBuf>,
}

/// A cycle of top-level modules, each depending on the next and the last on
/// the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The modules in order, starting with the smallest name.
    pub modules: Vec<String>,
    /// The edges `modules[i] -> modules[i + 1]`, the last one back to the first.
    pub edges: Vec<Edge>,
}

impl fmt::Display for Cycle {
    /// `a -> b -> a`, then one line per edge with the files that make it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.modules.first().map_or("", String::as_str);
        write!(f, "{} -> {first}", self.modules.join(" -> "))?;
        for e in &self.edges {
            let files: Vec<String> = e.files.iter().map(|p| p.display().to_string()).collect();
            write!(f, "\n    {} -> {}: {}", e.from, e.to, files.join(", "))?;
        }
        Ok(())
    }
}

/// Every cycle among the top-level modules of the crate whose sources are
/// in `src_dir`, each once, in a stable order.
pub fn module_cycles(src_dir: &Path) -> Result<Vec<Cycle>> {
    let files = rust_files(src_dir)?;
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(f)).collect();
    // (from, to) -> files of `from` naming `to`.
    let mut edges: BTreeMap<(String, String), BTreeSet<PathBuf>> = BTreeMap::new();
    for file in &files {
        let Some(from) = top_module(file) else { continue };
        let path = src_dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        for to in crate_references(&strip_comments_and_strings(&text)) {
            if to != from && modules.contains(&to) {
                edges.entry((from.clone(), to)).or_default().insert(file.clone());
            }
        }
    }
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from.as_str()).or_default().push(to.as_str());
    }
    let mut cycles = Vec::new();
    // Each elementary cycle once: from its smallest module, through larger ones.
    for start in &modules {
        let mut path = vec![start.as_str()];
        walk(start, &next, &mut path, &mut |cycle: &[&str]| {
            let modules: Vec<String> = cycle.iter().map(|m| m.to_string()).collect();
            let edges = (0..modules.len())
                .map(|i| {
                    let (from, to) = (&modules[i], &modules[(i + 1) % modules.len()]);
                    let files = edges[&(from.clone(), to.clone())].iter().cloned().collect();
                    Edge { from: from.clone(), to: to.clone(), files }
                })
                .collect();
            cycles.push(Cycle { modules, edges });
        });
    }
    Ok(cycles)
}

/// Depth-first from `path`'s last module through modules larger than
/// `path[0]`, calling `found` with each path that leads back to `path[0]`.
fn walk<'a>(
    current: &str,
    next: &BTreeMap<&'a str, Vec<&'a str>>,
    path: &mut Vec<&'a str>,
    found: &mut impl FnMut(&[&str]),
) {
    for &to in next.get(current).into_iter().flatten() {
        if to == path[0] {
            found(path);
        } else if to > path[0] && !path.contains(&to) {
            path.push(to);
            walk(to, next, path, found);
            path.pop();
        }
    }
}

/// The .rs files under `dir`, relative to it, sorted.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("reading {}: {e}", d.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("reading {}: {e}", d.display()))?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path.strip_prefix(dir).unwrap_or(&path).to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The top-level module a file (relative to src/) belongs to; None for the
/// crate root (lib.rs, main.rs) and for bin/ targets.
fn top_module(file: &Path) -> Option<String> {
    let mut parts = file.components().map(|c| c.as_os_str().to_str().unwrap_or_default());
    let first = parts.next()?;
    let is_file = parts.next().is_none();
    if is_file {
        let name = first.strip_suffix(".rs")?;
        return (!matches!(name, "lib" | "main")).then(|| name.to_string());
    }
    (first != "bin").then(|| first.to_string())
}

/// The first path segment after each `crate::` in `code`, with each entry of
/// a `crate::{…}` group.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::").map(|i| i + from) {
        from = i + "crate::".len();
        let before = i.checked_sub(1).map(|j| bytes[j]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            out.extend(group_heads(group));
        } else if let Some(name) = ident(rest) {
            out.insert(name.to_string());
        }
    }
    out
}

/// The first identifier of each entry of a `{a, b::c, d::{e}}` group (the
/// text after its `{`), up to the matching `}`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut entry_start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => entry_start = true,
            c if entry_start && !c.is_whitespace() => {
                entry_start = false;
                if let Some(name) = ident(&group[i..]).filter(|n| *n != "self") {
                    heads.push(name.to_string());
                }
            }
            _ => {}
        }
    }
    heads
}

/// The identifier at the start of `s`, if one is.
fn ident(s: &str) -> Option<&str> {
    let s = s.strip_prefix("r#").unwrap_or(s);
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    (end > 0 && !s.as_bytes()[0].is_ascii_digit()).then(|| &s[..end])
}

/// `code` with comments and the contents of string and char literals blanked,
/// so text in them names no module.
fn strip_comments_and_strings(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = |k: usize| chars.get(i + k).copied();
        if c == '/' && at(1) == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(1) == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (at(1) == Some('"') || (at(1) == Some('#') && matches!(at(2), Some('"' | '#')))) {
            // A raw string: r"…", r#"…"#, …
            let mut hashes = 0;
            i += 1;
            while chars.get(i) == Some(&'#') {
                hashes += 1;
                i += 1;
            }
            i += 1; // the opening quote
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (at(1) == Some('\\') || at(2) == Some('\'')) {
            // A char literal ('x', '\n', '\u{..}'); otherwise a lifetime.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temp dir holding `files`.
    fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-tidy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_cycle_is_found_with_the_files_that_make_it() {
        let dir = tree(
            "cycle",
            &[
                ("main.rs", "mod a;\nmod b;\nmod c;\n"),
                ("a.rs", "use crate::{b::Thing, c};\n"),
                ("b/mod.rs", "mod inner;\n"),
                ("b/inner.rs", "fn f() { crate::a::g(); }\n"),
                ("c.rs", "// crate::a is only named in a comment\nconst S: &str = \"crate::a\";\n"),
            ],
        );
        let cycles = module_cycles(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert_eq!(cycles[0].modules, ["a", "b"]);
        assert_eq!(cycles[0].edges[1].files, [PathBuf::from("b/inner.rs")]);
        let shown = cycles[0].to_string();
        assert!(shown.starts_with("a -> b -> a\n"), "{shown}");
        assert!(shown.contains("b -> a: b/inner.rs"), "{shown}");
    }

    #[test]
    fn an_acyclic_tree_passes() {
        let dir = tree(
            "acyclic",
            &[
                ("lib.rs", "pub mod a;\npub mod b;\npub mod util;\nuse crate::a::x;\n"),
                ("a.rs", "use crate::{b, util::{self, y}};\n"),
                ("b.rs", "use crate::util::y;\nuse crate::Result;\n"),
                ("util.rs", "pub fn y() {}\n"),
            ],
        );
        let cycles = module_cycles(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(cycles, []);
    }

    #[test]
    fn super_inside_a_directory_is_no_edge() {
        let dir = tree(
            "super",
            &[
                ("lib.rs", "mod a;\nmod b;\n"),
                ("a/mod.rs", "mod x;\nmod y;\nuse crate::b;\n"),
                ("a/x.rs", "use super::y;\n"),
                ("a/y.rs", "use super::super::a::x;\n"),
                ("b.rs", "fn f() {}\n"),
            ],
        );
        let cycles = module_cycles(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(cycles, []);
    }

    #[test]
    fn every_cycle_of_three_modules_is_reported_once() {
        let dir = tree(
            "three",
            &[
                ("a.rs", "use crate::b;\n"),
                ("b.rs", "use crate::c;\nuse crate::a;\n"),
                ("c.rs", "fn f() { crate::a::g() }\n"),
            ],
        );
        let cycles = module_cycles(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let shown: Vec<String> = cycles.iter().map(|c| c.to_string().lines().next().unwrap().to_string()).collect();
        assert_eq!(shown, ["a -> b -> a", "a -> b -> c -> a"]);
    }

    #[test]
    fn strings_chars_and_lifetimes_do_not_confuse_the_scanner() {
        let code = "fn f<'a>(x: &'a str) -> char { let _ = r#\"crate::a\"#; let _ = '\"'; crate::b::g(); 'x' }";
        let refs = crate_references(&strip_comments_and_strings(code));
        assert_eq!(refs, BTreeSet::from(["b".to_string()]));
    }

    #[test]
    fn a_create_vm_call_is_found_and_a_comment_is_not() {
        let dir = tree(
            "create-vm",
            &[("a.rs", "// kvm.create_vm() would ask for 52 bits\nfn f() {\n    let vm = kvm.create_vm();\n}\n")],
        );
        assert_eq!(host_ipa_vm_creations(&dir).unwrap(), vec!["a.rs:3".to_string()]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_vm_is_created_with_the_hosts_ipa() {
        let mut places = Vec::new();
        for dir in VM_CREATING_DIRS {
            places.extend(host_ipa_vm_creations(&root().join(dir)).unwrap().into_iter().map(|p| format!("{dir}/{p}")));
        }
        assert!(places.is_empty(), "create_vm() at {places:?}: use kvmtest::kvm::create_default_vm");
    }

    /// No cycle among the top-level modules of these crates. Add a crate
    /// here once its cycles are gone (`cargo xtask tidy` checks them all).
    #[test]
    fn module_graph_is_acyclic() {
        let mut report = String::new();
        for dir in CHECKED_SRC_DIRS {
            for c in module_cycles(&root().join(dir)).unwrap() {
                report.push_str(&format!("{dir}: module cycle {c}\n"));
            }
        }
        assert!(report.is_empty(), "{report}(`cargo xtask tidy` lists them too)");
    }
}
