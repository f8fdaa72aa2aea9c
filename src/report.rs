//! Findings: what a check found, how bad it is and where. Formats report with these; the tools
//! (`verify`, `check-host`) collect them into reports.

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The file is corrupt or would be refused by its producer.
    Error,
    /// The file loads but something is suspicious.
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Seriousness.
    pub severity: Severity,
    /// Short stable code (`crc`, `magic`, `version`, `decode`, `memory`, ...).
    pub code: &'static str,
    /// Byte offset in the file, when known.
    pub offset: Option<u64>,
    /// Field path, when known.
    pub path: Option<String>,
    /// Expected vs found.
    pub message: String,
}

impl Finding {
    pub(crate) fn error(code: &'static str, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            code,
            offset: None,
            path: None,
            message: message.into(),
        }
    }

    pub(crate) fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(code, message)
        }
    }

    pub(crate) fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    pub(crate) fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}[{}]: {}", self.code, self.message)?;
        // Envelope and decode messages already name their offset and field; others get them here.
        if let Some(p) = self
            .path
            .as_ref()
            .filter(|p| !self.message.contains(p.as_str()))
        {
            write!(f, " (field `{p}`)")?;
        }
        if let Some(o) = self
            .offset
            .filter(|o| !self.message.contains(&format!("0x{o:x}")))
        {
            write!(f, " (offset 0x{o:x})")?;
        }
        Ok(())
    }
}
