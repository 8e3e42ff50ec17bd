//! Architecture checks: crate dependencies point one way, every module opens with a `//!` doc,
//! and `anyhow` / `#[tokio::main]` live only in `ops`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The allowed `hotline-*` dependencies of each crate (DESIGN.md, "Workspace").
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let set = |names: &[&'static str]| names.iter().copied().collect::<BTreeSet<_>>();
    BTreeMap::from([
        ("hotline-domain", set(&[])),
        ("hotline-commands", set(&["hotline-domain"])),
        ("hotline-projections", set(&["hotline-domain", "hotline-commands"])),
        ("hotline-gateway-adapters", set(&["hotline-domain", "hotline-commands", "hotline-projections"])),
        ("hotline-graphql", set(&["hotline-domain", "hotline-commands", "hotline-projections"])),
        ("hotline-replay-tests", set(&["hotline-domain", "hotline-commands", "hotline-projections"])),
        // The bench's peers stand beside the log, so they use none of it.
        ("hotline-bench-peers", set(&[])),
        (
            "hotline-ops",
            set(&[
                "hotline-domain",
                "hotline-commands",
                "hotline-projections",
                "hotline-gateway-adapters",
                "hotline-graphql",
                "hotline-bench-peers",
            ]),
        ),
    ])
}

fn metadata() -> cargo_metadata::Metadata {
    cargo_metadata::MetadataCommand::new()
        .manifest_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
        .no_deps()
        .exec()
        .expect("cargo metadata")
}

#[test]
fn crate_dependencies_point_one_way() {
    let allowed = allowed();
    let metadata = metadata();
    let members: BTreeSet<String> = metadata.workspace_packages().iter().map(|p| p.name.to_string()).collect();
    let expected: BTreeSet<String> = allowed.keys().map(|k| k.to_string()).collect();
    assert_eq!(members, expected, "workspace members changed: update this test");
    for package in metadata.workspace_packages() {
        let permitted = &allowed[package.name.as_str()];
        for dependency in &package.dependencies {
            let normal = dependency.kind == cargo_metadata::DependencyKind::Normal;
            if normal && dependency.name.starts_with("hotline-") {
                assert!(
                    permitted.contains(dependency.name.as_str()),
                    "{} must not depend on {}",
                    package.name,
                    dependency.name
                );
            }
            if normal && dependency.name == "anyhow" {
                assert_eq!(package.name.as_str(), "hotline-ops", "only ops may use anyhow");
            }
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_opens_with_a_doc_and_tokio_main_is_only_in_ops() {
    let metadata = metadata();
    let mut checked = 0;
    for package in metadata.workspace_packages() {
        let src = package.manifest_path.parent().expect("crate dir").join("src");
        let mut files = Vec::new();
        rust_files(src.as_std_path(), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
            assert!(first.starts_with("//!"), "{} does not open with a //! module doc", file.display());
            if text.contains("#[tokio::main]") {
                assert_eq!(package.name.as_str(), "hotline-ops", "#[tokio::main] in {}", file.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} modules found");
}

/// The workspace root, for paths in reports.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `.rs` files under `src` of a package, keyed by their path relative to `src` (`/`-separated).
fn source_files(src: &Path) -> BTreeMap<String, String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix(src).expect("under src").to_string_lossy().replace('\\', "/");
            (relative, std::fs::read_to_string(&file).expect("read source"))
        })
        .collect()
}

/// Issue 11: no module import circles inside a crate, at file level. An edge A → B exists when
/// file A uses a `crate::`, `super::` or `self::` path that resolves to file B (the deepest
/// module file that exists), in a `use` or written out in code (`crate::telephony::SeatIndex`);
/// `mod x;` declarations are not edges.
#[test]
fn no_module_import_circles() {
    let mut report = Vec::new();
    for package in metadata().workspace_packages() {
        let crate_dir = package.manifest_path.parent().expect("crate dir");
        let folder = crate_dir.file_name().expect("crate folder name");
        let files = source_files(crate_dir.join("src").as_std_path());
        for circle in imports::circles(&files) {
            report.push(circle.render(&format!("{folder}/src/")));
        }
    }
    assert!(
        report.is_empty(),
        "module import circles (each file reaches the others by `crate::`, `super::` or `self::` paths):\n{}",
        report.join("\n")
    );
}

/// Issue 11: no file of the API crate grows past 600 lines (not counting blank ones); split it
/// by concern instead.
#[test]
fn no_graphql_source_file_is_over_600_lines() {
    const LIMIT: usize = 600;
    let src = workspace_root().join("graphql/src");
    let long: Vec<String> = source_files(&src)
        .into_iter()
        .map(|(path, text)| (path, text.lines().filter(|line| !line.trim().is_empty()).count()))
        .filter(|(_, lines)| *lines > LIMIT)
        .map(|(path, lines)| format!("graphql/src/{path}: {lines} lines"))
        .collect();
    assert!(long.is_empty(), "over {LIMIT} non-blank lines:\n{}", long.join("\n"));
}

/// Issue 11: what a crate embeds lives in that crate, beside its source: no `include_str!` or
/// `include_bytes!` in a crate's `src` reaches into a `tests/` folder or out of the crate (`..`).
#[test]
fn embedded_files_live_in_their_crate_outside_tests() {
    let mut report = Vec::new();
    for package in metadata().workspace_packages() {
        let crate_dir = package.manifest_path.parent().expect("crate dir");
        let folder = crate_dir.file_name().expect("crate folder name");
        for (path, text) in source_files(crate_dir.join("src").as_std_path()) {
            for (line, embedded) in imports::embedded_paths(&text) {
                if embedded.split('/').any(|part| part == ".." || part == "tests") {
                    report.push(format!("{folder}/src/{path}:{line}: embeds {embedded:?}"));
                }
            }
        }
    }
    assert!(report.is_empty(), "embedded files outside their crate or under tests/:\n{}", report.join("\n"));
}

/// A small Rust lexer and `use` resolver: enough to find which module file a `use` names and
/// which files `include_str!`/`include_bytes!` embed, without a parser dependency.
mod imports {
    use std::collections::{BTreeMap, BTreeSet};

    /// A token; comments and whitespace are dropped, literals other than strings are skipped.
    #[derive(Debug, Clone, PartialEq)]
    enum Token {
        Ident(String),
        /// A string literal's text, escapes kept as written.
        Str(String),
        /// `::`.
        PathSep,
        Punct(char),
    }

    /// Tokens of Rust source, with the line each starts on.
    fn lex(text: &str) -> Vec<(Token, usize)> {
        let chars: Vec<char> = text.chars().collect();
        let (mut tokens, mut i, mut line) = (Vec::new(), 0, 1);
        let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
        while i < chars.len() {
            let c = chars[i];
            let start_line = line;
            if c == '\n' {
                line += 1;
                i += 1;
            } else if c.is_whitespace() {
                i += 1;
            } else if c == '/' && at(i + 1) == '/' {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            } else if c == '/' && at(i + 1) == '*' {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        line += usize::from(chars[i] == '\n');
                        i += 1;
                    }
                }
            } else if let Some((hashes, open)) = raw_string_start(&chars, i) {
                // r"…", r#"…"#, br"…": no escapes; ends at a quote followed by as many hashes.
                let mut j = open + 1;
                let mut text = String::new();
                while j < chars.len() && !(chars[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#')) {
                    line += usize::from(chars[j] == '\n');
                    text.push(chars[j]);
                    j += 1;
                }
                tokens.push((Token::Str(text), start_line));
                i = j + 1 + hashes;
            } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
                let mut j = if c == 'b' { i + 2 } else { i + 1 };
                let mut text = String::new();
                while j < chars.len() && chars[j] != '"' {
                    if chars[j] == '\\' {
                        text.push(chars[j]);
                        j += 1;
                    }
                    line += usize::from(at(j) == '\n');
                    text.push(at(j));
                    j += 1;
                }
                tokens.push((Token::Str(text), start_line));
                i = j + 1;
            } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
                // A char literal ('x', '\n', '\u{..}', b'x') or a lifetime ('a).
                let j = if c == 'b' { i + 1 } else { i };
                if at(j + 1) == '\\' {
                    // Past the escaped character, which may itself be a quote.
                    let mut k = j + 3;
                    while k < chars.len() && chars[k] != '\'' {
                        k += 1;
                    }
                    i = k + 1;
                } else if at(j + 2) == '\'' {
                    i = j + 3;
                } else {
                    i = j + 1;
                }
            } else if c.is_alphabetic() || c == '_' {
                let mut j = i;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let ident: String = chars[i..j].iter().collect();
                tokens.push((Token::Ident(ident.clone()), start_line));
                i = j;
                // A raw identifier, r#name.
                if ident == "r" && at(i) == '#' && (at(i + 1).is_alphabetic() || at(i + 1) == '_') {
                    tokens.pop();
                    i += 1;
                }
            } else if c.is_ascii_digit() {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            } else if c == ':' && at(i + 1) == ':' {
                tokens.push((Token::PathSep, start_line));
                i += 2;
            } else {
                tokens.push((Token::Punct(c), start_line));
                i += 1;
            }
        }
        tokens
    }

    /// Where a raw string starting at `i` opens (`(hashes, index of the opening quote)`), if one does.
    fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
        let mut j = i;
        if chars.get(j) == Some(&'b') {
            j += 1;
        }
        if chars.get(j) != Some(&'r') || (i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')) {
            return None;
        }
        j += 1;
        let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
        (chars.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes))
    }

    /// The paths of one use tree starting at `tokens[*i]`, each prefixed by `prefix`; leaves `*i`
    /// after the tree.
    fn use_tree(tokens: &[(Token, usize)], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut path = prefix;
        loop {
            match tokens.get(*i).map(|(token, _)| token) {
                Some(Token::PathSep) => *i += 1,
                Some(Token::Ident(name)) if name == "as" => {
                    *i += 2;
                    out.push(path);
                    return;
                }
                Some(Token::Ident(name)) => {
                    path.push(name.clone());
                    *i += 1;
                }
                Some(Token::Punct('*')) => {
                    *i += 1;
                    out.push(path);
                    return;
                }
                Some(Token::Punct('{')) => {
                    *i += 1;
                    loop {
                        match tokens.get(*i).map(|(token, _)| token) {
                            Some(Token::Punct('}')) => {
                                *i += 1;
                                return;
                            }
                            Some(Token::Punct(',')) => *i += 1,
                            None | Some(Token::Punct(';')) => return,
                            Some(_) => use_tree(tokens, i, path.clone(), out),
                        }
                    }
                }
                _ => {
                    out.push(path);
                    return;
                }
            }
        }
    }

    /// Every path of a file that starts with `crate`, `self` or `super` (in a `use` or written out
    /// in code) and every other `use` path, as written, with the inline modules (`mod x { … }`)
    /// it sits in.
    fn uses(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
        let tokens = lex(text);
        let (mut found, mut depth, mut inline) = (Vec::new(), 0usize, Vec::<(String, usize)>::new());
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i].0 {
                Token::Punct('{') => depth += 1,
                Token::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    while inline.last().is_some_and(|(_, opened)| *opened > depth) {
                        inline.pop();
                    }
                }
                Token::Ident(keyword) if keyword == "mod" => {
                    if let (Some((Token::Ident(name), _)), Some((Token::Punct('{'), _))) =
                        (tokens.get(i + 1), tokens.get(i + 2))
                    {
                        inline.push((name.clone(), depth + 1));
                        i += 1;
                    }
                }
                Token::Ident(keyword) if keyword == "use" => {
                    let mut paths = Vec::new();
                    i += 1;
                    use_tree(&tokens, &mut i, Vec::new(), &mut paths);
                    let within: Vec<String> = inline.iter().map(|(name, _)| name.clone()).collect();
                    found.extend(paths.into_iter().map(|path| (within.clone(), path)));
                    continue;
                }
                // A path written out in code, `crate::a::B`: not the tail of another path, nor
                // a macro's `$crate::`.
                Token::Ident(first)
                    if matches!(first.as_str(), "crate" | "self" | "super")
                        && tokens.get(i + 1).map(|(token, _)| token) == Some(&Token::PathSep)
                        && !matches!(
                            i.checked_sub(1).map(|before| &tokens[before].0),
                            Some(Token::PathSep | Token::Punct('$'))
                        ) =>
                {
                    let mut path = vec![first.clone()];
                    let mut j = i + 1;
                    while let (Some((Token::PathSep, _)), Some((Token::Ident(segment), _))) =
                        (tokens.get(j), tokens.get(j + 1))
                    {
                        path.push(segment.clone());
                        j += 2;
                    }
                    found.push((inline.iter().map(|(name, _)| name.clone()).collect(), path));
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        found
    }

    /// The string literals inside `include_str!(…)` and `include_bytes!(…)`, with their lines.
    pub(super) fn embedded_paths(text: &str) -> Vec<(usize, String)> {
        let tokens = lex(text);
        let mut found = Vec::new();
        for (i, (token, _)) in tokens.iter().enumerate() {
            let is_include = matches!(token, Token::Ident(name) if name == "include_str" || name == "include_bytes");
            if !is_include || tokens.get(i + 1).map(|(t, _)| t) != Some(&Token::Punct('!')) {
                continue;
            }
            let mut depth = 0;
            for (token, line) in &tokens[i + 2..] {
                match token {
                    Token::Punct('(' | '[' | '{') => depth += 1,
                    Token::Punct(')' | ']' | '}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Token::Str(text) => found.push((*line, text.clone())),
                    _ => {}
                }
            }
        }
        found
    }

    /// A crate root among the source files and the module path of a file under it.
    fn module_of(file: &str) -> (String, Vec<String>) {
        let stem = file.trim_end_matches(".rs");
        let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
        if parts[0] == "bin" && parts.len() >= 2 {
            let root = format!("bin/{}", parts[1]);
            return (root, parts.split_off(2).into_iter().filter(|p| p != "mod").collect());
        }
        if parts == ["lib"] || parts == ["main"] {
            return (stem.to_owned(), Vec::new());
        }
        if parts.last().is_some_and(|last| last == "mod") {
            parts.pop();
        }
        ("lib".to_owned(), parts)
    }

    /// The file of module `path` under `root`, if it exists.
    fn file_of(files: &BTreeMap<String, String>, root: &str, path: &[String]) -> Option<String> {
        if path.is_empty() {
            let root_file = format!("{root}.rs");
            return files.contains_key(&root_file).then_some(root_file);
        }
        let dir = if root.starts_with("bin/") { format!("{root}/") } else { String::new() };
        let joined = path.join("/");
        [format!("{dir}{joined}.rs"), format!("{dir}{joined}/mod.rs")].into_iter().find(|f| files.contains_key(f))
    }

    /// Resolves a `use` path written in module `current`: `None` unless it starts with `crate`,
    /// `self` or `super`.
    fn resolve(current: &[String], written: &[String]) -> Option<Vec<String>> {
        let mut segments = written.iter().map(String::as_str).peekable();
        let mut resolved = match segments.peek() {
            Some(&"crate") => {
                segments.next();
                Vec::new()
            }
            Some(&"self") => {
                segments.next();
                current.to_vec()
            }
            Some(&"super") => current.to_vec(),
            _ => return None,
        };
        while segments.next_if_eq(&"super").is_some() {
            resolved.pop()?;
        }
        // `a::{self, …}` names `a` itself.
        resolved.extend(segments.filter(|segment| *segment != "self").map(str::to_owned));
        Some(resolved)
    }

    /// The file-level import edges of a crate's source files: `(from, to)`.
    fn edges(files: &BTreeMap<String, String>) -> BTreeSet<(String, String)> {
        let mut edges = BTreeSet::new();
        for (file, text) in files {
            let (root, module) = module_of(file);
            for (inline, written) in uses(text) {
                let current: Vec<String> = module.iter().chain(&inline).cloned().collect();
                let Some(path) = resolve(&current, &written) else { continue };
                let target = (0..=path.len()).rev().find_map(|length| file_of(files, &root, &path[..length]));
                if let Some(target) = target.filter(|target| target != file) {
                    edges.insert((file.clone(), target));
                }
            }
        }
        edges
    }

    /// Files that reach each other by `use`, and the edges between them.
    #[derive(Debug)]
    pub(super) struct Circle {
        files: Vec<String>,
        edges: Vec<(String, String)>,
    }

    impl Circle {
        /// `a ↔ b` on the first line, then one line per edge, every path prefixed.
        pub(super) fn render(&self, prefix: &str) -> String {
            let names: Vec<String> = self.files.iter().map(|f| format!("{prefix}{f}")).collect();
            let mut text = names.join(" ↔ ");
            for (from, to) in &self.edges {
                text.push_str(&format!("\n  {prefix}{from} → {prefix}{to}"));
            }
            text
        }
    }

    /// The import circles of a crate: its strongly connected components of more than one file.
    pub(super) fn circles(files: &BTreeMap<String, String>) -> Vec<Circle> {
        let edges = edges(files);
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, to) in &edges {
            next.entry(from).or_default().push(to);
        }
        // Tarjan's algorithm; crates are small, so recursion depth is no concern.
        struct Search<'a> {
            next: &'a BTreeMap<&'a str, Vec<&'a str>>,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on_stack: BTreeSet<&'a str>,
            components: Vec<Vec<&'a str>>,
        }
        impl<'a> Search<'a> {
            fn visit(&mut self, node: &'a str) {
                let next = self.next;
                let number = self.index.len();
                self.index.insert(node, number);
                self.low.insert(node, number);
                self.stack.push(node);
                self.on_stack.insert(node);
                for &to in next.get(node).into_iter().flatten() {
                    if !self.index.contains_key(to) {
                        self.visit(to);
                        let low = self.low[node].min(self.low[to]);
                        self.low.insert(node, low);
                    } else if self.on_stack.contains(to) {
                        let low = self.low[node].min(self.index[to]);
                        self.low.insert(node, low);
                    }
                }
                if self.low[node] == self.index[node] {
                    let mut component = Vec::new();
                    while let Some(member) = self.stack.pop() {
                        self.on_stack.remove(member);
                        component.push(member);
                        if member == node {
                            break;
                        }
                    }
                    self.components.push(component);
                }
            }
        }
        let mut search = Search {
            next: &next,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            components: Vec::new(),
        };
        for file in files.keys() {
            if !search.index.contains_key(file.as_str()) {
                search.visit(file);
            }
        }
        let mut circles: Vec<Circle> = search
            .components
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| {
                let members: BTreeSet<&str> = component.into_iter().collect();
                Circle {
                    files: members.iter().map(|f| f.to_string()).collect(),
                    edges: edges
                        .iter()
                        .filter(|(from, to)| members.contains(from.as_str()) && members.contains(to.as_str()))
                        .cloned()
                        .collect(),
                }
            })
            .collect();
        circles.sort_by(|a, b| a.files.cmp(&b.files));
        circles
    }

    mod tests {
        use super::*;

        /// `fixture` holds files, each opened by a `//- path` line; `expect` is every circle,
        /// rendered, or "" for none.
        fn check(fixture: &str, expect: &str) {
            let mut files: BTreeMap<String, String> = BTreeMap::new();
            let mut current = None;
            for line in fixture.lines() {
                if let Some(path) = line.trim().strip_prefix("//- ") {
                    current = Some(path.to_owned());
                    files.insert(path.to_owned(), String::new());
                } else if let Some(path) = &current {
                    let text = files.get_mut(path).expect("current file");
                    text.push_str(line);
                    text.push('\n');
                }
            }
            let rendered: Vec<String> = circles(&files).iter().map(|circle| circle.render("")).collect();
            assert_eq!(rendered.join("\n"), expect.trim(), "fixture:\n{fixture}");
        }

        #[test]
        fn two_files_using_each_other() {
            check(
                "
                //- lib.rs
                mod a; mod b;
                //- a.rs
                use crate::b::Thing;
                //- b.rs
                use crate::a::Other;
                ",
                "
a.rs ↔ b.rs
  a.rs → b.rs
  b.rs → a.rs
                ",
            );
        }

        #[test]
        fn one_way_uses_are_no_circle() {
            check(
                "
                //- lib.rs
                pub mod a;
                pub mod b;
                //- a.rs
                use crate::b::Thing;
                use super::b;
                //- b.rs
                use std::collections::BTreeMap;
                use a::Relative;
                ",
                "",
            );
        }

        #[test]
        fn mod_declarations_are_not_edges() {
            check(
                "
                //- lib.rs
                pub mod a;
                //- a.rs
                mod inner;
                //- a/inner.rs
                use super::Thing;
                ",
                "",
            );
        }

        #[test]
        fn grouped_and_nested_uses_resolve_to_the_deepest_module_file() {
            check(
                "
                //- lib.rs
                pub mod a; pub mod store;
                //- a.rs
                use crate::{store::{self, sqlite::Sqlite as Lite}, b::X};
                //- store/mod.rs
                pub mod sqlite;
                //- store/sqlite.rs
                pub(crate) use crate::a::{*};
                ",
                "
a.rs ↔ store/sqlite.rs
  a.rs → store/sqlite.rs
  store/sqlite.rs → a.rs
                ",
            );
        }

        #[test]
        fn super_and_self_climb_from_the_file_and_inline_modules() {
            // `super::` in an inline test module names its own file: no edge. `self::` in a
            // `mod.rs` names its folder's module.
            check(
                "
                //- lib.rs
                pub mod a; pub mod b;
                //- a.rs
                pub fn f() {}
                #[cfg(test)]
                mod tests {
                    use super::*;
                    use super::super::b::c::G;
                }
                //- b/mod.rs
                pub mod c;
                use self::c::G;
                //- b/c.rs
                use super::super::a::f;
                ",
                "
a.rs ↔ b/c.rs
  a.rs → b/c.rs
  b/c.rs → a.rs
                ",
            );
        }

        #[test]
        fn three_files_in_a_ring_are_one_circle() {
            check(
                "
                //- lib.rs
                mod schema; mod telephony; mod mutation; mod error;
                //- schema.rs
                use crate::telephony::Query;
                use crate::error::Error;
                //- telephony.rs
                use crate::mutation::Mutation;
                //- mutation.rs
                use crate::schema::Context;
                //- error.rs
                ",
                "
mutation.rs ↔ schema.rs ↔ telephony.rs
  mutation.rs → schema.rs
  schema.rs → telephony.rs
  telephony.rs → mutation.rs
                ",
            );
        }

        #[test]
        fn comments_strings_and_chars_hide_nothing_and_add_nothing() {
            check(
                r#"
                //- lib.rs
                mod a; mod b;
                //- a.rs
                // use crate::b::X;
                /* use crate::b::Y; /* nested */ */
                const BRACE: char = '{';
                const TEXT: &str = "use crate::b::Z; }";
                const RAW: &str = r"{";
                fn f<'a>(x: &'a str) -> &'a str { x }
                mod inner {
                    use crate::b::Real;
                }
                //- b.rs
                use crate::a::Back;
                "#,
                "
a.rs ↔ b.rs
  a.rs → b.rs
  b.rs → a.rs
                ",
            );
        }

        #[test]
        fn paths_written_out_in_code_are_edges_too() {
            check(
                "
                //- lib.rs
                mod service; mod telephony;
                //- service.rs
                pub struct Hotline { seats: crate::telephony::SeatIndex, own: self::Local }
                macro_rules! m { () => { $crate::telephony::X } }
                pub(crate) fn f() -> Self::Output { Self::new() }
                //- telephony.rs
                use crate::service::{load, run};
                ",
                "
service.rs ↔ telephony.rs
  service.rs → telephony.rs
  telephony.rs → service.rs
                ",
            );
        }

        #[test]
        fn binaries_are_crates_of_their_own() {
            check(
                "
                //- lib.rs
                pub mod a;
                //- a.rs
                use crate::Root;
                //- bin/tool.rs
                use crate::a::Thing;
                ",
                "",
            );
        }

        #[test]
        fn embedded_paths_are_found_with_their_lines() {
            let text = "//! include_str!(\"../tests/doc.txt\") in a doc is fine\n\
                        const A: &str = include_str!(\"rig/kamailio.cfg.in\");\n\
                        const B: &[u8] = include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../x.bin\"));\n";
            assert_eq!(
                embedded_paths(text),
                [
                    (2, "rig/kamailio.cfg.in".to_owned()),
                    (3, "CARGO_MANIFEST_DIR".to_owned()),
                    (3, "/../x.bin".to_owned())
                ]
            );
        }
    }
}
