//! runc-compatible logging.
//!
//! containerd and Podman parse the runtime's `--log` file: with `--log-format json` every line is
//! `{"level":"…","msg":"…","time":"…"}` (logrus' JSON shape); with `text` it is logrus' text shape
//! `time="…" level=… msg="…"`. Without `--log`, only errors reach stderr, because callers such as
//! Docker and ctr show whatever a runtime writes to stderr as the container's own output.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Line format of the log, as runc's `--log-format` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// logrus text: `time="…" level=… msg="…"`.
    Text,
    /// logrus JSON: `{"level":"…","msg":"…","time":"…"}`.
    Json,
}

impl LogFormat {
    /// Parses the `--log-format` value (default `text`).
    pub fn parse(value: Option<&str>) -> Result<Self> {
        match value {
            None | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => bail!("invalid --log-format {other:?}: expected \"text\" or \"json\""),
        }
    }
}

/// Where log lines go and in which shape; kept so fatal errors can be written the same way.
#[derive(Clone)]
pub struct Logger {
    format: LogFormat,
    file: Option<Arc<File>>,
}

impl Logger {
    /// Installs the global subscriber. `log_file` is opened for appending (created if missing).
    pub fn install(log_file: Option<&Path>, format: LogFormat, debug: bool) -> Result<Self> {
        let file = log_file
            .map(|path| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open log file {}", path.display()))
                    .map(Arc::new)
            })
            .transpose()?;
        let level = match (debug, file.is_some()) {
            (true, _) => LevelFilter::DEBUG,
            (false, true) => LevelFilter::WARN,
            (false, false) => LevelFilter::ERROR,
        };
        let builder = tracing_subscriber::fmt()
            .with_max_level(level)
            .event_format(LineFormat { format });
        let installed = match &file {
            Some(file) => builder.with_writer(Arc::clone(file)).try_init(),
            None => builder.with_writer(io::stderr).try_init(),
        };
        installed.map_err(|err| anyhow::anyhow!("cannot install logger: {err}"))?;
        Ok(Self { format, file })
    }

    /// Reports the error that ends the command: one line on stderr (as runc prints it) and, when
    /// a log file is configured, an `error` entry there, which is where containerd looks for it.
    pub fn fatal(&self, err: &anyhow::Error) {
        if let Some(file) = &self.file {
            let line = error_line(self.format, err);
            let _ = io::Write::write_all(&mut &**file, line.as_bytes());
        }
        print_error(err);
    }
}

/// Prints `err` on stderr as runc does when stderr is not a terminal: one logrus text line,
/// `time="…" level=error msg="…"`. Tools that drive runc (containerd, CRI-O, conformance
/// suites) look for that shape and the word `error` in it.
pub fn print_error(err: &anyhow::Error) {
    eprint!("{}", error_line(LogFormat::Text, err));
}

/// One `error` line for `err` (its whole chain of causes) in `format`.
fn error_line(format: LogFormat, err: &anyhow::Error) -> String {
    let mut line = String::new();
    // Formatting into a String cannot fail.
    let _ = write_line(&mut line, format, Level::ERROR, &format!("{err:#}"));
    line
}

struct LineFormat {
    format: LogFormat,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        write_line(
            &mut writer,
            self.format,
            *event.metadata().level(),
            &visitor.finish(),
        )
    }
}

fn write_line(
    out: &mut impl fmt::Write,
    format: LogFormat,
    level: Level,
    msg: &str,
) -> fmt::Result {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let level = level.as_str().to_ascii_lowercase();
    match format {
        LogFormat::Json => {
            let line = serde_json::json!({ "level": level, "msg": msg, "time": time });
            writeln!(out, "{line}")
        }
        LogFormat::Text => {
            let msg = serde_json::Value::String(msg.to_owned());
            writeln!(out, "time=\"{time}\" level={level} msg={msg}")
        }
    }
}

/// Collects an event's message and its structured fields (`key=value`) into one string.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_logrus_fields() {
        let mut out = String::new();
        write_line(&mut out, LogFormat::Json, Level::ERROR, "boom \"quoted\"").unwrap();
        let value: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(value["level"], "error");
        assert_eq!(value["msg"], "boom \"quoted\"");
        assert!(chrono::DateTime::parse_from_rfc3339(value["time"].as_str().unwrap()).is_ok());
        assert_eq!(value.as_object().unwrap().len(), 3);
    }

    #[test]
    fn text_line_quotes_message() {
        let mut out = String::new();
        write_line(&mut out, LogFormat::Text, Level::WARN, "a b").unwrap();
        assert!(out.starts_with("time=\""), "{out}");
        assert!(out.contains(" level=warn msg=\"a b\"\n"), "{out}");
    }

    #[test]
    fn error_line_is_logrus_text_with_the_whole_chain() {
        let err = anyhow::anyhow!("container \"x\" does not exist").context("cannot start");
        let line = error_line(LogFormat::Text, &err);
        let rest = line.strip_prefix("time=\"").expect("starts with the time");
        let (time, rest) = rest.split_once("\" ").expect("time is quoted");
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{line}");
        assert_eq!(
            rest,
            "level=error msg=\"cannot start: container \\\"x\\\" does not exist\"\n"
        );
    }

    #[test]
    fn log_format_rejects_unknown() {
        assert_eq!(LogFormat::parse(None).unwrap(), LogFormat::Text);
        assert_eq!(LogFormat::parse(Some("json")).unwrap(), LogFormat::Json);
        let err = LogFormat::parse(Some("xml")).unwrap_err().to_string();
        assert!(err.contains("xml"), "{err}");
    }
}
