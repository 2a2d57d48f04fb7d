//! Durations written as strings (`"30s"`, `"5m"`, `"250ms"`, `"1h 30m"`).

use std::time::Duration;

/// Parses a human duration. Bare numbers are refused on purpose: `timeout = 30` is ambiguous
/// (seconds? milliseconds?) and the error says how to write it.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration".to_owned());
    }
    // The reason is shown to the user: a huge value is cut (humantime's message may quote
    // part of it too).
    let shown = crate::error::shorten(trimmed.to_owned());
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "\"{shown}\" has no unit (write \"{shown}s\" or \"{shown}ms\")"
        ));
    }
    humantime::parse_duration(trimmed).map_err(|e| {
        format!(
            "\"{shown}\" is not a duration ({})",
            crate::error::shorten(e.to_string())
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn a_huge_value_is_cut_in_the_reason() {
        // Found by fuzzing (fuzz/seeds/config_loader/long_duration.toml).
        for huge in [
            "1".repeat(5000),
            "g".repeat(5000),
            format!("1{}", "x".repeat(5000)),
        ] {
            let reason = parse_duration(&huge).unwrap_err();
            assert!(reason.len() < 1000, "{reason}");
        }
    }

    #[test]
    fn refuses_bare_numbers_and_garbage() {
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
