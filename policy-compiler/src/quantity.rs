//! Kubernetes quantities (`4Gi`, `512Mi`, `2`, `500m`, `1.5`, `1e9`) and durations (`15m`).
//!
//! Quantities follow `k8s.io/apimachinery/pkg/api/resource`: a non-negative decimal number, then
//! an optional binary suffix (`Ki Mi Gi Ti Pi Ei`), decimal suffix (`n u m k M G T P E`) or
//! exponent (`e3`, `E-2`). They are evaluated exactly, in integers, so `0.1Gi` of memory is an
//! error (not a whole number of bytes) instead of a silently rounded limit.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::yaml::HINT_SEPARATOR;

/// Smallest CPU limit accepted: the kernel's minimum CFS quota is 1 ms per 100 ms period.
pub const MIN_CPU_MILLICORES: u64 = 10;

/// A memory size in bytes (more than zero), written as a Kubernetes quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryQuantity {
    bytes: u64,
    text: String,
}

impl MemoryQuantity {
    /// Parses `text` (`4Gi`, `512Mi`, `1073741824`, `1G`).
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let bytes = evaluate(text, 1)?;
        if bytes == 0 {
            return Err(QuantityError::TooSmall {
                text: text.to_owned(),
                minimum: "1",
            });
        }
        let bytes = u64::try_from(bytes).map_err(|_| QuantityError::TooLarge(text.to_owned()))?;
        Ok(MemoryQuantity {
            bytes,
            text: text.to_owned(),
        })
    }

    /// The size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl fmt::Display for MemoryQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A CPU amount in millicores (`2` = 2000, `500m` = 500, `1.5` = 1500).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuQuantity {
    millicores: u64,
    text: String,
}

impl CpuQuantity {
    /// Parses `text` (`2`, `500m`, `0.25`).
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let millicores = evaluate(text, 1000)?;
        if millicores < u128::from(MIN_CPU_MILLICORES) {
            return Err(QuantityError::TooSmall {
                text: text.to_owned(),
                minimum: "10m",
            });
        }
        let millicores =
            u64::try_from(millicores).map_err(|_| QuantityError::TooLarge(text.to_owned()))?;
        Ok(CpuQuantity {
            millicores,
            text: text.to_owned(),
        })
    }

    /// The amount in thousandths of a CPU.
    pub fn millicores(&self) -> u64 {
        self.millicores
    }
}

impl fmt::Display for CpuQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a quantity was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not the Kubernetes quantity syntax.
    #[error("'{0}' is not a Kubernetes quantity")]
    Syntax(String),
    /// Does not come to a whole number of the unit (bytes or millicores).
    #[error("'{0}' is not a whole number of {1}")]
    Fraction(String, &'static str),
    /// Below the smallest usable value.
    #[error("'{text}' is below the minimum of {minimum}")]
    TooSmall {
        /// The text as written.
        text: String,
        /// The minimum, as a quantity.
        minimum: &'static str,
    },
    /// Does not fit in 64 bits.
    #[error("'{0}' is too large")]
    TooLarge(String),
}

/// `text` multiplied by `scale`, exactly; an error unless the result is a whole number.
fn evaluate(text: &str, scale: u128) -> Result<u128, QuantityError> {
    let syntax = || QuantityError::Syntax(text.to_owned());
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(syntax());
    }
    let digits = format!("{whole}{fraction}");
    let mut mantissa: u128 = if digits.is_empty() {
        return Err(syntax());
    } else {
        digits
            .parse()
            .map_err(|_| QuantityError::TooLarge(text.to_owned()))?
    };
    let fraction_digits = i32::try_from(fraction.len()).map_err(|_| syntax())?;
    let (binary_power, decimal_exponent) = match suffix {
        "" => (0, 0),
        "Ki" => (1, 0),
        "Mi" => (2, 0),
        "Gi" => (3, 0),
        "Ti" => (4, 0),
        "Pi" => (5, 0),
        "Ei" => (6, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        exponent if exponent.starts_with(['e', 'E']) => {
            let value: i32 = exponent[1..].parse().map_err(|_| syntax())?;
            if !(-30..=30).contains(&value) {
                return Err(syntax());
            }
            (0, value)
        }
        _ => return Err(syntax()),
    };
    let too_large = || QuantityError::TooLarge(text.to_owned());
    mantissa = mantissa
        .checked_mul(1024u128.pow(binary_power))
        .and_then(|value| value.checked_mul(scale))
        .ok_or_else(too_large)?;
    let exponent = decimal_exponent - fraction_digits;
    if exponent >= 0 {
        mantissa
            .checked_mul(10u128.pow(exponent.unsigned_abs()))
            .ok_or_else(too_large)
    } else {
        let divisor = 10u128
            .checked_pow(exponent.unsigned_abs())
            .ok_or_else(syntax)?;
        if !mantissa.is_multiple_of(divisor) {
            let unit = if scale == 1 { "bytes" } else { "millicores" };
            return Err(QuantityError::Fraction(text.to_owned(), unit));
        }
        Ok(mantissa / divisor)
    }
}

/// Reads a YAML or JSON scalar (string, integer or float) as its text.
struct ScalarText;

impl Visitor<'_> for ScalarText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quantity such as 4Gi, 2 or 500m")
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.trim().to_owned())
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
        Ok(value.to_string())
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
        Ok(value.to_string())
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
        Ok(value.to_string())
    }
}

impl<'de> Deserialize<'de> for MemoryQuantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = deserializer.deserialize_any(ScalarText)?;
        MemoryQuantity::parse(&text).map_err(|error| {
            de::Error::custom(format!(
                "{error}{HINT_SEPARATOR}write a size such as 512Mi, 4Gi or 1073741824"
            ))
        })
    }
}

impl<'de> Deserialize<'de> for CpuQuantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = deserializer.deserialize_any(ScalarText)?;
        CpuQuantity::parse(&text).map_err(|error| {
            de::Error::custom(format!(
                "{error}{HINT_SEPARATOR}write CPUs such as 2, 1.5 or 500m (at least 10m)"
            ))
        })
    }
}

impl Serialize for MemoryQuantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl Serialize for CpuQuantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// Longest approval timeout accepted.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A duration written like `15m`, `30s` or `1h30m`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeout {
    duration: Duration,
    text: String,
}

impl Timeout {
    /// Parses `text`; between 1s and 24h.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let duration = humantime::parse_duration(text)
            .map_err(|error| format!("'{text}' is not a duration ({error})"))?;
        if duration < Duration::from_secs(1) || duration > MAX_TIMEOUT {
            return Err(format!("'{text}' is outside 1s..24h"));
        }
        Ok(Timeout {
            duration,
            text: text.to_owned(),
        })
    }

    /// The duration.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timeout::parse(&text).map_err(|error| {
            de::Error::custom(format!(
                "{error}{HINT_SEPARATOR}write a duration such as 30s, 15m or 1h"
            ))
        })
    }
}

impl Serialize for Timeout {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_quantities_are_exact() {
        let cases = [
            ("4Gi", 4 << 30),
            ("512Mi", 512 << 20),
            ("1.5Gi", 3 << 29),
            ("1G", 1_000_000_000),
            ("1073741824", 1 << 30),
            ("8e6", 8_000_000),
            ("0.5Ti", 1 << 39),
            ("6Mi", 6 << 20),
            ("1", 1),
        ];
        for (text, bytes) in cases {
            assert_eq!(
                MemoryQuantity::parse(text).unwrap().bytes(),
                bytes,
                "{text}"
            );
        }
    }

    #[test]
    fn bad_memory_quantities_are_refused_with_the_reason() {
        assert_eq!(
            MemoryQuantity::parse("4GB"),
            Err(QuantityError::Syntax("4GB".into()))
        );
        assert_eq!(
            MemoryQuantity::parse("-1Gi"),
            Err(QuantityError::Syntax("-1Gi".into()))
        );
        assert_eq!(
            MemoryQuantity::parse("100000001m"),
            Err(QuantityError::Fraction("100000001m".into(), "bytes"))
        );
        assert!(matches!(
            MemoryQuantity::parse("0Mi"),
            Err(QuantityError::TooSmall { .. })
        ));
        assert!(matches!(
            MemoryQuantity::parse("99999Ei"),
            Err(QuantityError::TooLarge(_))
        ));
        for text in ["", ".", "1..2", "Gi", "1 Gi", "1e", "1e99"] {
            assert!(MemoryQuantity::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn cpu_quantities_are_millicores() {
        let cases = [
            ("2", 2000),
            ("500m", 500),
            ("1.5", 1500),
            ("0.25", 250),
            ("10m", 10),
        ];
        for (text, millicores) in cases {
            assert_eq!(
                CpuQuantity::parse(text).unwrap().millicores(),
                millicores,
                "{text}"
            );
        }
        assert!(matches!(
            CpuQuantity::parse("5m"),
            Err(QuantityError::TooSmall { .. })
        ));
        assert_eq!(
            CpuQuantity::parse("0.0005"),
            Err(QuantityError::Fraction("0.0005".into(), "millicores"))
        );
    }

    #[test]
    fn yaml_numbers_and_strings_both_read_as_quantities() {
        #[derive(Deserialize)]
        struct Resources {
            cpu: CpuQuantity,
            memory: MemoryQuantity,
        }
        let resources: Resources = serde_saphyr::from_str("cpu: 2\nmemory: 4Gi\n").unwrap();
        assert_eq!(resources.cpu.millicores(), 2000);
        assert_eq!(resources.memory.bytes(), 4 << 30);
        let resources: Resources = serde_saphyr::from_str("cpu: 0.5\nmemory: 7000000\n").unwrap();
        assert_eq!(resources.cpu.millicores(), 500);
        assert_eq!(resources.memory.bytes(), 7_000_000);
    }

    #[test]
    fn timeouts_parse_and_are_bounded() {
        assert_eq!(
            Timeout::parse("15m").unwrap().duration(),
            Duration::from_secs(900)
        );
        assert_eq!(
            Timeout::parse("1h30m").unwrap().duration(),
            Duration::from_secs(5400)
        );
        assert!(Timeout::parse("0s").is_err());
        assert!(Timeout::parse("2d").is_err());
        assert!(Timeout::parse("soon").is_err());
    }
}
