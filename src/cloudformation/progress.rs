//! Showing a deployment while it runs: a live view on a terminal, append-only lines in CI (one per
//! resource event, plus a heartbeat at least every 30 s), or nothing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::events::{Event, Watcher, clock_now};
use super::outcome::StatusClass;

/// How long CI output may stay silent while botpub waits.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live view per stack (terminals).
    Bar,
    /// One line per resource event and a heartbeat (CI logs).
    Events,
    None,
}

impl Mode {
    /// `auto`: the live view when stderr is a terminal, plain lines otherwise.
    pub fn auto() -> Mode {
        if crate::terminal::live_stderr() {
            Mode::Bar
        } else {
            Mode::Events
        }
    }
}

/// The display shared by every stack of one command.
#[derive(Clone)]
pub struct Progress {
    mode: Mode,
    multi: MultiProgress,
}

impl Progress {
    pub fn new(mode: Mode) -> Progress {
        let multi = MultiProgress::with_draw_target(match mode {
            Mode::Bar => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        });
        Progress { mode, multi }
    }

    /// A line for the user that does not disturb the live view.
    pub fn say(&self, line: &str) {
        match self.mode {
            Mode::Bar => {
                let _ = self.multi.println(line);
            }
            Mode::Events | Mode::None => eprintln!("{line}"),
        }
    }

    /// Starts showing one stack's operation; `expected` is the number of resources it will touch.
    pub fn stack(&self, name: &str, expected: Option<usize>) -> StackProgress {
        let bar = (self.mode == Mode::Bar).then(|| {
            let bar = self.multi.add(match expected {
                Some(n) => ProgressBar::new(n as u64),
                None => ProgressBar::new_spinner(),
            });
            let template = if expected.is_some() {
                "{spinner} {prefix} [{bar:20}] {pos}/{len} {elapsed} {wide_msg}"
            } else {
                "{spinner} {prefix} {elapsed} {wide_msg}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        StackProgress {
            progress: self.clone(),
            bar,
            name: name.to_string(),
            started: Instant::now(),
            last_line: Instant::now(),
            in_progress: BTreeSet::new(),
        }
    }
}

pub struct StackProgress {
    progress: Progress,
    bar: Option<ProgressBar>,
    name: String,
    started: Instant,
    last_line: Instant,
    in_progress: BTreeSet<String>,
}

impl Watcher for StackProgress {
    fn event(&mut self, event: &Event) {
        if event.is_stack_event(&self.name) {
            if self.progress.mode == Mode::Events {
                self.line(&event.line(&self.name));
            }
            return;
        }
        let class = StatusClass::of(&event.status);
        if class == StatusClass::InProgress {
            self.in_progress.insert(event.logical_id.clone());
        } else {
            self.in_progress.remove(&event.logical_id);
            if let Some(bar) = &self.bar
                && !event.is_failure()
                && class.is_settled()
            {
                bar.inc(1);
            }
        }
        match (&self.bar, self.progress.mode) {
            (Some(bar), _) => {
                if event.is_failure() {
                    bar.println(event.line(&self.name));
                }
                let busy: Vec<&str> = self
                    .in_progress
                    .iter()
                    .map(String::as_str)
                    .take(4)
                    .collect();
                let more = self.in_progress.len().saturating_sub(busy.len());
                let more = if more > 0 {
                    format!(" +{more}")
                } else {
                    String::new()
                };
                bar.set_message(if busy.is_empty() {
                    String::new()
                } else {
                    format!("{}{more}", busy.join(", "))
                });
            }
            (None, Mode::Events) => self.line(&event.line(&self.name)),
            _ => {}
        }
    }

    /// In CI, proves botpub is alive when AWS has been quiet for a while.
    fn heartbeat(&mut self, status: &str) {
        if self.progress.mode == Mode::Events && self.last_line.elapsed() >= HEARTBEAT {
            let waiting = self.started.elapsed().as_secs();
            let busy = if self.in_progress.is_empty() {
                String::new()
            } else {
                format!(
                    "; in progress: {}",
                    self.in_progress
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            self.line(&format!(
                "{} {} still {status} after {waiting} s{busy}",
                clock_now(),
                self.name
            ));
        }
    }

    fn finish(&mut self, status: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(status.to_string());
            bar.finish();
        }
    }
}

impl StackProgress {
    fn line(&mut self, text: &str) {
        eprintln!("{text}");
        self.last_line = Instant::now();
    }
}
