//! The `retort` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    retort::cli::main()
}
