//! Embeds every `pipelines/<name>/pipeline.yaml` into the library, so the CLI
//! and the Lambda binaries carry the pipelines they were built with.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut entries = Vec::new();
    if let Ok(dirs) = std::fs::read_dir(&root) {
        for dir in dirs.flatten() {
            let file = dir.path().join("pipeline.yaml");
            if file.is_file() {
                println!("cargo:rerun-if-changed={}", file.display());
                let name = dir.file_name().to_string_lossy().into_owned();
                let absolute = file.canonicalize().expect("the pipeline file exists");
                entries.push(format!("    (\"pipelines/{name}/pipeline.yaml\", include_str!({:?})),\n", absolute.display().to_string()));
            }
        }
    }
    entries.sort();
    let code = format!(
        "/// (label, YAML) of each pipeline shipped with this build.\npub const EMBEDDED_PIPELINES: &[(&str, &str)] = &[\n{}];\n",
        entries.concat()
    );
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_pipelines.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
