//! The `botpub` command: everything is in the command-line layer (`cli`) and the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
