//! Writes every target's seeds as files: `cargo run -p saescope-fuzz --example write_seeds -- DIR`
//! makes `DIR/<target>/<seed>` (what `cargo xtask fuzz` gives libFuzzer besides fuzz/corpus).

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/fuzz/seeds".into()));
    for (target, _) in saescope_fuzz::TARGETS {
        let out = dir.join(target);
        std::fs::create_dir_all(&out)?;
        for (name, bytes) in saescope_fuzz::seeds::seeds(target) {
            std::fs::write(out.join(name), bytes)?;
        }
    }
    println!("{}", dir.display());
    Ok(())
}
