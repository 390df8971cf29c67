//! Link arguments for `libbizra.so`: the version script (only `bizra_*` is exported) and the
//! SONAME (`libbizra.so.<BIZRA_ABI_VERSION>`).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let map = std::path::Path::new(&dir).join("bizra.map");
    println!("cargo:rerun-if-changed={}", map.display());
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "android" || target_os.ends_with("bsd") {
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
            map.display()
        );
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbizra.so.0");
    }
}
