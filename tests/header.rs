//! Fails when the committed C header differs from what cbindgen generates from the
//! current sources. Set P2PNET_BLESS_HEADER=1 to rewrite it.

use std::path::PathBuf;

#[test]
fn committed_header_matches_cbindgen_output() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(&root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("header is UTF-8");
    let path = root.join("include/p2pnet.h");
    if std::env::var_os("P2PNET_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/p2pnet.h is stale: regenerate it with `P2PNET_BLESS_HEADER=1 cargo test --test header`"
    );
}
