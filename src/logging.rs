//! Logging is silent by default. Setting `ELOQSTORE_LOG` to `error`, `warn`,
//! `info`, `debug` or `trace` makes the engine print log records of that
//! level and above to stderr, unless the program already installed a
//! logger for the `log` facade.

use std::sync::Once;

struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "[eloqstore {} {}] {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;
static INIT: Once = Once::new();

/// Installs the stderr logger when `ELOQSTORE_LOG` names a level.
pub fn init_from_env() {
    INIT.call_once(|| {
        let Ok(v) = std::env::var("ELOQSTORE_LOG") else {
            return;
        };
        let level = match v.trim().to_ascii_lowercase().as_str() {
            "error" => log::LevelFilter::Error,
            "warn" | "warning" => log::LevelFilter::Warn,
            "info" | "1" | "true" => log::LevelFilter::Info,
            "debug" => log::LevelFilter::Debug,
            "trace" => log::LevelFilter::Trace,
            _ => return,
        };
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(level);
        }
    });
}
