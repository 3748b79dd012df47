//! The terminal botpub writes to: whether a live display belongs there, and colour. Colour is on only
//! where it can be read: `--color never`, `NO_COLOR`, `TERM=dumb` or output that is not a terminal turn
//! it off (anstream strips the styles then), `--color always` or `CLICOLOR_FORCE` turn it on.

use std::io::IsTerminal;

use anstyle::AnsiColor;
pub use anstyle::Style;

pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const HELP: Style = AnsiColor::Cyan.on_default();
pub const ADD: Style = AnsiColor::Green.on_default();
pub const REMOVE: Style = AnsiColor::Red.on_default();
pub const MODIFY: Style = AnsiColor::Yellow.on_default();
pub const REPLACE: Style = AnsiColor::Magenta.on_default().bold();

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Sets colour for everything written from now on.
pub fn set_color(color: Color) {
    anstream::ColorChoice::write_global(match color {
        Color::Auto => anstream::ColorChoice::Auto,
        Color::Always => anstream::ColorChoice::Always,
        Color::Never => anstream::ColorChoice::Never,
    });
}

/// Text in a style; the style is dropped again where colour is off.
pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Whether stderr is a terminal that can redraw a line: live progress and spinners go there, plain
/// lines everywhere else (a `TERM=dumb` terminal, such as an editor's shell, counts as none).
pub fn live_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
}
