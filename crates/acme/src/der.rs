//! Reading the expiry (`notAfter`) of an X.509 certificate from its DER: the one field the
//! renewal decision needs. A full X.509 parser (and its dependency tree) for one field would
//! cost more than these few lines of DER walking (RFC 5280 §4.1, X.690).

use std::time::{Duration, SystemTime};

/// The end of the validity period of a DER certificate; `None` if it does not parse.
pub(crate) fn not_after(der: &[u8]) -> Option<SystemTime> {
    let (certificate, _) = element(der, SEQUENCE)?;
    let (tbs, _) = element(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = element(rest, VERSION)?.1;
    }
    for _ in 0..3 {
        // serialNumber, signature, issuer
        rest = skip(rest)?;
    }
    let (validity, _) = element(rest, SEQUENCE)?;
    let not_after = skip(validity)?;
    time(not_after)
}

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The content of the element at the start of `input` if its tag is `tag`, and what follows.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *input.first()? != tag {
        return None;
    }
    let (len, header) = match *input.get(1)? {
        short @ 0..=0x7f => (usize::from(short), 2),
        long @ 0x81..=0x84 => {
            let count = usize::from(long & 0x7f);
            let bytes = input.get(2..2 + count)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
            (len, 2 + count)
        }
        _ => return None,
    };
    let end = header.checked_add(len)?;
    Some((input.get(header..end)?, input.get(end..)?))
}

/// What follows the element at the start of `input`, whatever its tag.
fn skip(input: &[u8]) -> Option<&[u8]> {
    element(input, *input.first()?).map(|(_, rest)| rest)
}

/// `UTCTime` (`YYMMDDHHMMSSZ`, 1950 to 2049) or `GeneralizedTime` (`YYYYMMDDHHMMSSZ`).
fn time(input: &[u8]) -> Option<SystemTime> {
    let tag = *input.first()?;
    let (text, _) = element(input, tag)?;
    let (year, rest) = match tag {
        UTC_TIME => {
            let yy = digits(text.get(0..2)?)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, text.get(2..)?)
        }
        GENERALIZED_TIME => (digits(text.get(0..4)?)?, text.get(4..)?),
        _ => return None,
    };
    if rest.len() != 11 || rest[10] != b'Z' {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

fn digits(text: &[u8]) -> Option<u64> {
    text.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (year 1970 or later).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let days_before_month = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = |y: u64| y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
    let years = (1970..year)
        .map(|y| if leap(y) { 366 } else { 365 })
        .sum::<u64>();
    let index = usize::try_from(month - 1).unwrap_or(0).min(11);
    let leap_day = u64::from(month > 2 && leap(year));
    years + days_before_month[index] + leap_day + day - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate_until(year: i32, month: u8, day: u8) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["acme.test".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(year, month, day);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_utc_time_and_generalized_time_expiries() {
        // 2030 is written as UTCTime, 2051 as GeneralizedTime (RFC 5280 §4.1.2.5).
        let utc = not_after(&certificate_until(2030, 1, 2));
        assert_eq!(
            utc,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_542_400))
        );
        let generalized = not_after(&certificate_until(2051, 6, 15));
        assert_eq!(
            generalized,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2_570_400_000))
        );
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        assert_eq!(not_after(&[]), None);
        assert_eq!(not_after(&[0x30, 0x82, 0xff]), None);
        let der = certificate_until(2030, 1, 2);
        for cut in [1, 10, 100, der.len() / 2] {
            assert_eq!(not_after(&der[..cut]), None, "cut at {cut}");
        }
    }
}
