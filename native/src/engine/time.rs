//! Event times, computed as Python computed them (the same floats, so the same verdicts).
//!
//! The stream's own format (`2026-02-09T14:23:45.123Z`) is parsed here: the second's epoch
//! time plus `ms / 1000`, as `engine._time` added them. Anything else goes to Python's
//! `datetime.fromisoformat` (`view.event_time`), memoised: imported logs repeat few shapes.

/// Epoch seconds of a valid `YYYY-MM-DDTHH:MM:SS.mmmZ`, or None for any other text.
pub fn parse_stream(ts: &str) -> Option<f64> {
    let (seconds, ms) = stream_parts(ts)?;
    Some(seconds as f64 + ms as f64 / 1000.0)
}

/// The same time as `datetime.fromisoformat(ts).timestamp()` gives it (microseconds over a
/// million, one rounding): what the recorder computes elapsed times from, as it always did.
pub fn stream_timestamp(ts: &str) -> Option<f64> {
    let (seconds, ms) = stream_parts(ts)?;
    Some((seconds * 1_000_000 + ms * 1000) as f64 / 1e6)
}

/// Microseconds since the epoch of a valid stream time: exact, as DuckDB keeps times.
pub fn stream_micros(ts: &str) -> Option<i64> {
    let (seconds, ms) = stream_parts(ts)?;
    Some(seconds * 1_000_000 + ms * 1000)
}

/// A time in microseconds since the epoch as DuckDB reads a UTC `TIMESTAMPTZ`
/// (`2026-02-09 14:23:45.123000+00`).
pub fn duckdb_time(micros: i64) -> String {
    let (days, rest) = (
        micros.div_euclid(86_400_000_000),
        micros.rem_euclid(86_400_000_000),
    );
    let seconds = rest / 1_000_000;
    format!(
        "{} {:02}:{:02}:{:02}.{:06}+00",
        date(days),
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60,
        rest % 1_000_000
    )
}

/// A day (days since the epoch) as `YYYY-MM-DD`.
pub fn date(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Whole seconds since the epoch and milliseconds of a valid stream time.
fn stream_parts(ts: &str) -> Option<(i64, i64)> {
    let b = ts.as_bytes();
    if b.len() != 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b'.' || b[23] != b'Z' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second, ms) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let base = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some((base, ms))
}

fn leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `events.now_iso(t)`: `round(t * 1000)` milliseconds (ties to even, as Python's `round`),
/// as `2026-02-09T14:23:45.123Z`.
pub fn iso(t: f64) -> String {
    let ms = (t * 1000.0).round_ties_even() as i64;
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let year = if year >= 1000 {
        format!("{year:04}")
    } else {
        year.to_string() // as glibc's strftime writes %Y
    };
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_format_reads_as_python_reads_it() {
        assert_eq!(parse_stream("1970-01-01T00:00:00.000Z"), Some(0.0));
        assert_eq!(
            parse_stream("2026-01-01T00:00:00.123Z"),
            Some(1_767_225_600.0 + 0.123)
        );
        assert_eq!(
            parse_stream("2024-02-29T23:59:59.999Z"),
            Some(1_709_251_199.0 + 0.999)
        );
        for bad in [
            "2026-02-30T00:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "2026-01-01T24:00:00.000Z",
            "2026-01-01T00:00:60.000Z",
            "2026-01-01T00:00:00.-12Z",
            "2026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_stream(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_are_written_for_duckdb_to_the_microsecond() {
        let t = stream_micros("2024-02-29T23:59:59.999Z").unwrap();
        assert_eq!(duckdb_time(t), "2024-02-29 23:59:59.999000+00");
        assert_eq!(duckdb_time(-1), "1969-12-31 23:59:59.999999+00");
        assert_eq!(
            duckdb_time(-62_135_596_800_000_000),
            "0001-01-01 00:00:00.000000+00"
        );
    }

    #[test]
    fn times_are_written_as_now_iso_writes_them() {
        assert_eq!(iso(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(-0.0005), "1970-01-01T00:00:00.000Z"); // round(-0.5) == 0
        assert_eq!(iso(951_868_800.0), "2000-03-01T00:00:00.000Z");
    }
}
