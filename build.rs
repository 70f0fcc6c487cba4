//! Link the operator's binary with packed relative relocations (RELR) on glibc Linux. The binary is
//! position-independent, and its ~50,000 relative relocations otherwise take 1.3 MB of the file
//! that the loader reads at start and that stays resident; packed, they take a few kilobytes.
//! glibc runs such binaries from 2.36 on, and GNU ld (2.38+) and lld (15+) write them.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
