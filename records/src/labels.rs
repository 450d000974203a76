//! The labels that records and result tables carry, as types with today's CSV text: how a
//! figure was obtained (a domain's [`Provenance`], a figure's [`FigureLabel`]) and what a
//! model is built for ([`ModelClass`] in a suite, [`ClassLabel`] in a result file).

use crate::RecordsError;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// A label's text that is none of the allowed ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {kind}: expected one of {}", allowed.join(", "))]
pub struct LabelError {
    /// What kind of label was expected (e.g. `provenance`).
    pub kind: &'static str,
    /// The text found.
    pub value: String,
    /// The texts allowed.
    pub allowed: &'static [&'static str],
}

/// Reads a label from its text, the error naming the allowed texts.
pub(crate) struct LabelVisitor<T>(pub(crate) std::marker::PhantomData<T>);

impl<T: FromStr<Err = LabelError>> serde::de::Visitor<'_> for LabelVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a label's text")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

/// Parses the text of one field of a file into a label; the error names the file, line and
/// field, and the allowed texts.
pub fn parse_field<T: FromStr<Err = LabelError>>(
    value: &str,
    path: &Path,
    line: u64,
    field: &str,
) -> Result<T, RecordsError> {
    value.parse().map_err(|e: LabelError| RecordsError::Field {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        message: e.to_string(),
    })
}

/// Implements `as_str`, `Display`, `FromStr` and serde (as the text) from one table of variants and texts.
macro_rules! label_text {
    ($ty:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every text this label may have, in declaration order.
            pub const ALLOWED: &'static [&'static str] = &[$($text),+];

            /// The text written in every file and table.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(LabelVisitor::<$ty>(std::marker::PhantomData))
            }
        }

        impl FromStr for $ty {
            type Err = LabelError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(LabelError {
                        kind: $kind,
                        value: s.to_string(),
                        allowed: Self::ALLOWED,
                    }),
                }
            }
        }
    };
}

/// Lets other modules of the crate give their labels the same text table.
pub(crate) use label_text;

/// How a domain's figures were obtained: read from a hardware counter, or computed from a
/// model. (The default only fills rows built in code, e.g. a table's header; a file's text
/// is always parsed.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provenance {
    /// Read from a hardware energy counter or power sensor.
    #[default]
    Measured,
    /// Computed from a stated model (e.g. TDP × utilisation); never a measurement.
    Estimated,
}

label_text!(Provenance, "provenance", {
    Measured => "measured",
    Estimated => "estimated",
});

/// How a figure that may sum several domains was obtained: `mixed` when some of them were
/// measured and some estimated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FigureLabel {
    /// Every part measured.
    #[default]
    Measured,
    /// Every part estimated.
    Estimated,
    /// Some parts measured, some estimated.
    Mixed,
}

label_text!(FigureLabel, "figure label", {
    Measured => "measured",
    Estimated => "estimated",
    Mixed => "mixed",
});

impl FigureLabel {
    /// What a figure with this label says beside it: nothing when measured, otherwise
    /// `estimated` or `partly estimated`.
    pub fn note(self) -> Option<&'static str> {
        match self {
            FigureLabel::Measured => None,
            FigureLabel::Estimated => Some("estimated"),
            FigureLabel::Mixed => Some("partly estimated"),
        }
    }

    /// Whether every part of the figure was measured.
    pub fn is_measured(self) -> bool {
        self == FigureLabel::Measured
    }

    /// The label of a figure built from parts with these labels: theirs when they all
    /// agree, otherwise (also with no parts at all) `mixed`.
    pub fn combine(parts: impl IntoIterator<Item = FigureLabel>) -> FigureLabel {
        let mut parts = parts.into_iter();
        let Some(first) = parts.next() else {
            return FigureLabel::Mixed;
        };
        if parts.all(|p| p == first) {
            first
        } else {
            FigureLabel::Mixed
        }
    }

    /// The label of a ratio of two figures: `estimated` when either is wholly estimated,
    /// `measured` when both are measured, otherwise `mixed`.
    pub fn ratio(a: FigureLabel, b: FigureLabel) -> FigureLabel {
        match (a, b) {
            (FigureLabel::Measured, FigureLabel::Measured) => FigureLabel::Measured,
            (FigureLabel::Estimated, _) | (_, FigureLabel::Estimated) => FigureLabel::Estimated,
            _ => FigureLabel::Mixed,
        }
    }
}

impl From<Provenance> for FigureLabel {
    fn from(p: Provenance) -> Self {
        match p {
            Provenance::Measured => FigureLabel::Measured,
            Provenance::Estimated => FigureLabel::Estimated,
        }
    }
}

/// Whether a model is built for one task or prompted for many, as a suite declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelClass {
    /// Fine-tuned for one task; receives the task's `input` template.
    TaskSpecific,
    /// Prompted zero-shot; receives the task's `prompt` template.
    GeneralPurpose,
}

label_text!(ModelClass, "model class", {
    TaskSpecific => "task-specific",
    GeneralPurpose => "general-purpose",
});

/// The class of a model as a result file holds it: a suite's [`ModelClass`], or `unknown`
/// for runs imported from another tool's log without a class.
///
/// Variants are declared in the order of their texts, so tables sorted by class keep the
/// order they had when the class was text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClassLabel {
    /// Prompted zero-shot.
    GeneralPurpose,
    /// Fine-tuned for one task.
    TaskSpecific,
    /// Not known (an imported run whose log does not say).
    #[default]
    Unknown,
}

label_text!(ClassLabel, "model class", {
    GeneralPurpose => "general-purpose",
    TaskSpecific => "task-specific",
    Unknown => "unknown",
});

impl From<ModelClass> for ClassLabel {
    fn from(c: ModelClass) -> Self {
        match c {
            ModelClass::TaskSpecific => ClassLabel::TaskSpecific,
            ModelClass::GeneralPurpose => ClassLabel::GeneralPurpose,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip_through_from_str() {
        for text in FigureLabel::ALLOWED {
            let label: FigureLabel = text.parse().expect("allowed text");
            assert_eq!(label.as_str(), *text);
        }
        for text in ClassLabel::ALLOWED {
            let label: ClassLabel = text.parse().expect("allowed text");
            assert_eq!(label.to_string(), *text);
        }
        assert_eq!("estimated".parse::<Provenance>(), Ok(Provenance::Estimated));
    }

    #[test]
    fn unknown_text_names_the_allowed_ones() {
        let err = "Measured".parse::<Provenance>().expect_err("case matters");
        assert_eq!(
            err.to_string(),
            "\"Measured\" is not a provenance: expected one of measured, estimated"
        );
        assert!("unknown".parse::<ModelClass>().is_err());
        assert_eq!("unknown".parse::<ClassLabel>(), Ok(ClassLabel::Unknown));
    }

    #[test]
    fn notes_and_combinations() {
        assert_eq!(FigureLabel::Measured.note(), None);
        assert_eq!(FigureLabel::Estimated.note(), Some("estimated"));
        assert_eq!(FigureLabel::Mixed.note(), Some("partly estimated"));
        let m = FigureLabel::Measured;
        let e = FigureLabel::Estimated;
        assert_eq!(FigureLabel::combine([m, m]), m);
        assert_eq!(FigureLabel::combine([e, e]), e);
        assert_eq!(FigureLabel::combine([m, e]), FigureLabel::Mixed);
        assert_eq!(FigureLabel::combine([]), FigureLabel::Mixed);
        assert_eq!(FigureLabel::ratio(m, m), m);
        assert_eq!(FigureLabel::ratio(FigureLabel::Mixed, e), e);
        assert_eq!(
            FigureLabel::ratio(m, FigureLabel::Mixed),
            FigureLabel::Mixed
        );
    }

    #[test]
    fn class_order_follows_its_text() {
        let mut labels = [
            ClassLabel::Unknown,
            ClassLabel::TaskSpecific,
            ClassLabel::GeneralPurpose,
        ];
        labels.sort();
        let texts: Vec<&str> = labels.iter().map(|l| l.as_str()).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
    }

    #[test]
    fn serde_uses_the_csv_text() {
        assert_eq!(
            serde_json::to_string(&ClassLabel::GeneralPurpose).expect("json"),
            "\"general-purpose\""
        );
        let err = serde_json::from_str::<FigureLabel>("\"partly\"").expect_err("unknown");
        assert!(err.to_string().contains("measured"), "{err}");
    }
}
