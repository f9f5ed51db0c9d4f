//! Gives the shared library a soname so that C++ nodes link against a stable ABI name.
//! During 0.x every minor release may break the ABI, so the soname carries the minor
//! version (libp2pnet.so.0.1: 0.1.x releases share it, 0.2 does not); from 1.0 on, the
//! major version only. CMakeLists.txt installs the library under the same name.

fn main() {
    let version = |part: &str| std::env::var(part).unwrap_or_else(|_| "0".into());
    let major = version("CARGO_PKG_VERSION_MAJOR");
    let soversion = if major == "0" {
        format!("0.{}", version("CARGO_PKG_VERSION_MINOR"))
    } else {
        major
    };
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "freebsd" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libp2pnet.so.{soversion}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
