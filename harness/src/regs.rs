//! A printable snapshot of a vCPU's registers, attached to failures so a
//! reader sees where the guest was, like the C harness's register dumps.

use std::fmt;

/// Named register values of one vCPU at the time of a failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterDump {
    /// (name, value) in the order the arch dumps them.
    pub regs: Vec<(&'static str, u64)>,
    /// Why the dump is empty or partial, if it is.
    pub note: Option<String>,
}

impl RegisterDump {
    /// An empty dump, with why.
    pub fn unavailable(why: impl Into<String>) -> Self {
        RegisterDump { regs: Vec::new(), note: Some(why.into()) }
    }

    /// The value of a register by name.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.regs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

impl fmt::Display for RegisterDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(note) = &self.note {
            writeln!(f, "  registers: {note}")?;
        }
        for row in self.regs.chunks(4) {
            write!(f, " ")?;
            for (name, value) in row {
                write!(f, " {name:>6}={value:#018x}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
