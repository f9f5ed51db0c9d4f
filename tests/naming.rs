//! The naming rule written at the top of `include/p2pnet.h`, checked on the header itself
//! so that a new export cannot quietly break it. The header is the source of truth: it is
//! what C code compiles against, and `tests/header.rs` keeps it equal to cbindgen's output.

use std::path::PathBuf;

/// Objects whose functions are named `p2pnet_<object>_<verb>...`, and whether the object
/// is an opaque handle passed as the first argument (as opposed to an enum value).
const OBJECTS: [(&str, bool); 5] = [
    ("config", true),
    ("engine", true),
    ("reply", true),
    ("result", false),
    ("disconnect_reason", false),
];

/// Functions of the library as a whole, acting on no object.
const LIBRARY_FUNCTIONS: [&str; 4] = [
    "p2pnet_last_error_message",
    "p2pnet_version_string",
    "p2pnet_sha256d",
    "p2pnet_bitcoin_item_id",
];

/// One parameter of a declaration: its type text and its name.
#[derive(Debug)]
struct Param {
    ty: String,
    name: String,
}

#[derive(Debug)]
struct Function {
    ret: String,
    name: String,
    params: Vec<Param>,
}

fn header() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("include/p2pnet.h")).expect("include/p2pnet.h")
}

/// The header as C sees it: without comments, preprocessor lines and the C++-only lines
/// (`extern "C" {` and its closing brace).
fn code(header: &str) -> String {
    let mut text = String::new();
    let mut rest = header;
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        let end = rest[start..]
            .find("*/")
            .map_or(rest.len(), |i| start + i + 2);
        rest = &rest[end..];
    }
    text.push_str(rest);
    let mut out = Vec::new();
    let mut cplusplus_depth = 0usize;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default();
        if let Some(directive) = line.trim_start().strip_prefix('#') {
            let words: Vec<&str> = directive.split_whitespace().collect();
            match words.as_slice() {
                ["ifdef", "__cplusplus", ..] => cplusplus_depth += 1,
                ["if" | "ifdef" | "ifndef", ..] if cplusplus_depth > 0 => cplusplus_depth += 1,
                ["endif", ..] if cplusplus_depth > 0 => cplusplus_depth -= 1,
                _ => {}
            }
        } else if cplusplus_depth == 0 {
            out.push(line);
        }
    }
    out.join("\n")
}

/// Top-level declarations (text up to each `;` outside braces), whitespace collapsed.
fn declarations(code: &str) -> Vec<String> {
    let mut decls = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in code.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ';' if depth == 0 => {
                let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
                current.clear();
                if !text.is_empty() {
                    decls.push(text);
                }
                continue;
            }
            _ => {}
        }
        if depth == 0 && c != '}' {
            current.push(c);
        }
    }
    decls
}

fn parse_param(text: &str) -> Param {
    let text = text.trim();
    let split = text
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    Param {
        ty: text[..split].trim().to_owned(),
        name: text[split..].to_owned(),
    }
}

fn functions(header: &str) -> Vec<Function> {
    let mut found = Vec::new();
    for decl in declarations(&code(header)) {
        let decl = decl.trim_start_matches("extern \"C\" ").trim();
        if decl.starts_with("typedef") {
            continue;
        }
        let (Some(open), Some(close)) = (decl.find('('), decl.rfind(')')) else {
            continue;
        };
        let head = &decl[..open];
        let name_start = head
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let params = &decl[open + 1..close];
        found.push(Function {
            ret: head[..name_start].trim().to_owned(),
            name: head[name_start..].to_owned(),
            params: if params.trim() == "void" {
                Vec::new()
            } else {
                params.split(',').map(parse_param).collect()
            },
        });
    }
    found
}

/// Every way `f` breaks the naming rule.
fn violations(f: &Function) -> Vec<String> {
    let mut problems = Vec::new();
    let mut bad = |what: String| problems.push(format!("{}: {what}", f.name));
    if LIBRARY_FUNCTIONS.contains(&f.name.as_str()) {
        return problems;
    }
    let Some((object, handle, verb)) = OBJECTS.iter().find_map(|&(object, handle)| {
        let verb = f.name.strip_prefix(&format!("p2pnet_{object}_"))?;
        Some((object, handle, verb))
    }) else {
        bad("names no known object (p2pnet_<object>_<verb>)".into());
        return problems;
    };
    for message in ["getheaders", "getblocks", "getdata"] {
        if f.name.contains(message) {
            bad(format!("spells the message {message} as one word"));
        }
    }
    let first = f.params.first();
    let handle_type = format!("struct p2pnet_{object} *");
    if verb == "new" {
        if f.ret != "enum p2pnet_result" {
            bad("a constructor returns a p2pnet_result".into());
        }
        let last = f.params.last();
        if last.map(|p| (p.ty.as_str(), p.name.as_str()))
            != Some((
                &format!("struct p2pnet_{object} **"),
                &format!("out_{object}"),
            ))
        {
            bad(format!(
                "a constructor's last parameter is p2pnet_{object} **out_{object}"
            ));
        }
    } else if handle {
        let by_handle = first.is_some_and(|p| {
            p.name == object && (p.ty == handle_type || p.ty == format!("const {handle_type}"))
        });
        if !by_handle {
            bad(format!("the first parameter is the {object} handle"));
        }
    }
    if verb == "free" && (f.ret != "void" || f.params.len() != 1) {
        bad("a destructor takes only the handle and returns void".into());
    }
    // Out-parameters are pointers and come last; an array's capacity sits between the
    // array and its count.
    let mut seen_out = false;
    for p in &f.params {
        let is_out = p.name.starts_with("out_");
        if is_out && !p.ty.ends_with('*') {
            bad(format!(
                "{} is named as an out-parameter but is not a pointer",
                p.name
            ));
        }
        if seen_out && !is_out && p.name != "capacity" {
            bad(format!("{} follows an out-parameter", p.name));
        }
        seen_out |= is_out;
    }
    if let Some(items) = verb.strip_prefix("list_") {
        let tail: Vec<&str> = f
            .params
            .iter()
            .rev()
            .take(3)
            .map(|p| p.name.as_str())
            .collect();
        let array = format!("out_{items}");
        if tail != ["out_count", "capacity", array.as_str()] {
            bad(format!(
                "a list function ends with ({array}, capacity, out_count)"
            ));
        }
    }
    if verb.starts_with("get_") {
        if !f.params.last().is_some_and(|p| p.name.starts_with("out_")) {
            bad("a get function ends with its out-parameter".into());
        }
        if f.params.iter().any(|p| p.name == "capacity") {
            bad("a get function fills one value; arrays are list functions".into());
        }
    }
    let takes_callback = f.params.iter().any(|p| p.ty == "p2pnet_release_fn");
    if verb.starts_with("set_on_") || takes_callback {
        let tail: Vec<&Param> = f.params.iter().rev().take(3).collect();
        let triple = tail.len() == 3
            && tail[0].ty == "p2pnet_release_fn"
            && tail[0].name == "release"
            && tail[1].ty == "void *"
            && tail[1].name == "user_data"
            && tail[2].ty.ends_with("_fn")
            && tail[2].name == "cb";
        if !triple {
            bad("a callback is passed as (cb, user_data, release), last".into());
        }
        let installs_function = verb.starts_with("set_") && verb.ends_with("_function");
        if !(verb.starts_with("set_on_") || installs_function) {
            bad("a function registering a callback is named set_on_<event>".into());
        }
    }
    problems
}

#[test]
fn every_function_follows_the_naming_rule() {
    let header = header();
    let functions = functions(&header);
    assert!(
        functions.len() >= 70,
        "parsed only {} functions",
        functions.len()
    );
    let problems: Vec<String> = functions.iter().flat_map(violations).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn callback_types_end_in_fn_and_the_rule_is_written_down() {
    let header = header();
    for decl in declarations(&code(&header)) {
        if let Some(rest) = decl.strip_prefix("typedef ") {
            if let Some(start) = rest.find("(*") {
                let name: String = rest[start + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    name.ends_with("_fn"),
                    "callback type {name} does not end in _fn"
                );
            }
        }
    }
    assert!(
        header.contains("Naming rule:") && header.contains("p2pnet_<object>_<verb>[_<noun>]"),
        "the naming rule is missing from the top of p2pnet.h"
    );
}

#[test]
fn the_checks_catch_names_that_break_the_rule() {
    let broken = r#"
        enum p2pnet_result p2pnet_set_on_ping(struct p2pnet_engine *engine, p2pnet_item_fn cb,
                                              void *user_data, p2pnet_release_fn release);
        struct p2pnet_config *p2pnet_config_new(uint32_t network);
        enum p2pnet_result p2pnet_engine_send_getheaders(struct p2pnet_engine *engine);
        enum p2pnet_result p2pnet_engine_get_peers(const struct p2pnet_engine *engine,
                                                   struct p2pnet_peer_info *out_peers,
                                                   size_t capacity, size_t *out_count);
        enum p2pnet_result p2pnet_engine_list_peers(const struct p2pnet_engine *engine,
                                                    size_t *out_count, size_t capacity);
        enum p2pnet_result p2pnet_engine_set_on_log(struct p2pnet_engine *engine, void *user_data,
                                                    p2pnet_log_fn cb, p2pnet_release_fn release);
        enum p2pnet_result p2pnet_engine_add_peer(struct p2pnet_engine *engine,
                                                  uint64_t *out_peer_id, uint16_t port);
        enum p2pnet_result p2pnet_config_set_magic(struct p2pnet_engine *engine, uint32_t magic);
    "#;
    let functions = functions(broken);
    assert_eq!(functions.len(), 8);
    for f in &functions {
        assert!(!violations(f).is_empty(), "{} was not flagged", f.name);
    }
}
