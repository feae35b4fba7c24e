//! Go duration strings (`"20s"`, `"5m"`, `"1m30s"`, `"1.5h"`), as used by `metav1.Duration`
//! fields in KubeFedConfig.

use std::time::Duration;

/// Why a Go duration string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationParseError {
    /// The string was empty.
    #[error("empty duration")]
    Empty,
    /// Negative durations make no sense for the timeouts and periods they configure.
    #[error("negative duration {0:?} is not allowed")]
    Negative(String),
    /// A number was not followed by a unit, or the number itself was malformed.
    #[error("invalid duration {0:?}: expected <number><unit> pairs such as 1m30s")]
    Malformed(String),
    /// The unit is not one of `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
    #[error("unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit {
        /// The offending unit.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// The duration does not fit in a `std::time::Duration`.
    #[error("duration {0:?} is out of range")]
    Overflow(String),
}

/// Parses a Go duration string such as `"20s"`, `"5m"`, `"1m30s"` or `"250ms"`.
///
/// Like Go's `time.ParseDuration`, `"0"` is accepted without a unit and fractions are allowed
/// (`"1.5h"`); unlike Go, negative durations are rejected.
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationParseError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(DurationParseError::Empty);
    }
    let unsigned = match trimmed.strip_prefix('-') {
        Some(_) => return Err(DurationParseError::Negative(input.to_string())),
        None => trimmed.strip_prefix('+').unwrap_or(trimmed),
    };
    if unsigned == "0" {
        return Ok(Duration::ZERO);
    }
    let malformed = || DurationParseError::Malformed(input.to_string());
    if unsigned.is_empty() {
        return Err(malformed());
    }

    let mut total_nanos: f64 = 0.0;
    let mut rest = unsigned;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after_number) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(malformed());
        }
        let value: f64 = number.parse().map_err(|_| malformed())?;
        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(malformed());
        }
        total_nanos += value * nanos_per_unit(unit, input)?;
        rest = after_unit;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return Err(DurationParseError::Overflow(input.to_string()));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

fn nanos_per_unit(unit: &str, input: &str) -> Result<f64, DurationParseError> {
    Ok(match unit {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60.0 * 1e9,
        "h" => 3600.0 * 1e9,
        _ => {
            return Err(DurationParseError::UnknownUnit {
                unit: unit.to_string(),
                input: input.to_string(),
            });
        }
    })
}

/// Formats a duration the way Go's `time.Duration.String` does for whole seconds and above
/// (`"1m30s"`, `"5m0s"`, `"20s"`), falling back to milliseconds for sub-second values.
pub fn format_go_duration(duration: Duration) -> String {
    let total_secs = duration.as_secs();
    let millis = duration.subsec_millis();
    if total_secs == 0 {
        return if millis == 0 {
            "0s".to_string()
        } else {
            format!("{millis}ms")
        };
    }
    let hours = total_secs / 3600;
    let minutes = (total_secs % 3600) / 60;
    let seconds = total_secs % 60;
    let fraction = if millis == 0 {
        String::new()
    } else {
        format!(".{millis:03}").trim_end_matches('0').to_string()
    };
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}{fraction}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}{fraction}s")
    } else {
        format!("{seconds}{fraction}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_units() {
        assert_eq!(parse_go_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_go_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_go_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("7us"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_go_duration("7µs"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_go_duration("9ns"), Ok(Duration::from_nanos(9)));
    }

    #[test]
    fn parses_compound_and_fractional() {
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1h2m3s"), Ok(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("+3s"), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse_go_duration(""), Err(DurationParseError::Empty));
        assert!(matches!(
            parse_go_duration("-5s"),
            Err(DurationParseError::Negative(_))
        ));
        assert!(matches!(
            parse_go_duration("10"),
            Err(DurationParseError::Malformed(_))
        ));
        assert!(matches!(
            parse_go_duration("s"),
            Err(DurationParseError::Malformed(_))
        ));
        assert!(matches!(
            parse_go_duration("1..2s"),
            Err(DurationParseError::Malformed(_))
        ));
        assert!(matches!(
            parse_go_duration("3d"),
            Err(DurationParseError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(20)), "20s");
        assert_eq!(format_go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
    }
}
