//! Checksums and structural rules that turn a regex candidate into a finding.

use std::str::FromStr;

/// The ASCII digits of `text`, separators dropped.
pub(crate) fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// Whether `separated` uses at most one kind of separator (`-`, space or `.`): mixing them
/// (`123-45 6789`) is a typing accident, not an identifier.
fn consistent_separators(separated: &str) -> bool {
    let mut seen: Option<char> = None;
    for c in separated.chars().filter(|c| !c.is_ascii_alphanumeric()) {
        match seen {
            None => seen = Some(c),
            Some(s) if s == c => {}
            Some(_) => return false,
        }
    }
    true
}

/// A payment card number: 13–19 digits, one kind of separator, a known issuer prefix, not all
/// the same digit, and a valid Luhn checksum.
pub(crate) fn payment_card(candidate: &str) -> bool {
    let digits = digits(candidate);
    if !(13..=19).contains(&digits.len()) || !consistent_separators(candidate) {
        return false;
    }
    if all_same(&digits) || !known_card_issuer(&digits) {
        return false;
    }
    luhn3::decimal::valid(digits.as_bytes())
}

/// Issuer identification number ranges of the major networks.
fn known_card_issuer(digits: &str) -> bool {
    let prefix = |n: usize| digits[..n].parse::<u32>().unwrap_or(0);
    let len = digits.len();
    match digits.as_bytes()[0] {
        b'4' => matches!(len, 13 | 16 | 19), // Visa
        b'5' => match prefix(2) {
            51..=55 => len == 16,         // Mastercard
            50 | 56..=59 => maestro(len), // Maestro
            _ => false,
        },
        b'2' => (2221..=2720).contains(&prefix(4)) && len == 16, // Mastercard 2-series
        b'3' => {
            let p2 = prefix(2);
            (p2 == 34 || p2 == 37) && len == 15                              // Amex
                || (3528..=3589).contains(&prefix(4)) && (16..=19).contains(&len) // JCB
                || ((300..=305).contains(&prefix(3)) || p2 == 36 || p2 == 38) && (14..=19).contains(&len) // Diners
        }
        b'6' => (16..=19).contains(&len), // Discover, UnionPay, Maestro
        _ => false,
    }
}

fn maestro(len: usize) -> bool {
    (12..=19).contains(&len)
}

fn all_same(digits: &str) -> bool {
    let first = digits.as_bytes()[0];
    digits.bytes().all(|b| b == first)
}

/// An IBAN: valid mod-97 checksum and the country's BBAN format (`iban_validate`). Accepts the
/// electronic form and the paper form (groups of four).
pub(crate) fn iban(candidate: &str) -> bool {
    if iban::Iban::from_str(candidate).is_ok() {
        return true;
    }
    let compact: String = candidate.chars().filter(|c| !c.is_whitespace()).collect();
    compact != candidate && iban::Iban::from_str(&compact).is_ok()
}

/// A US Social Security number by Presidio's invalidation rules: consistent delimiters, not all
/// one digit, group `00` and serial `0000` invalid, area `000`, `666` and `9xx` invalid, and the
/// well-known sample numbers rejected.
pub(crate) fn us_ssn(candidate: &str) -> bool {
    if !consistent_separators(candidate) {
        return false;
    }
    let d = digits(candidate);
    if d.len() != 9 || all_same(&d) {
        return false;
    }
    if &d[3..5] == "00" || &d[5..] == "0000" {
        return false;
    }
    let area = &d[..3];
    if area == "000" || area == "666" || area.starts_with('9') {
        return false;
    }
    const SAMPLES: [&str; 3] = ["123456789", "078051120", "219099999"];
    !SAMPLES.contains(&d.as_str())
}

/// A UK National Insurance number: two prefix letters from the allowed sets (the regex checks
/// them), not one of the never-issued prefixes, six digits and a suffix A–D.
pub(crate) fn uk_nino(candidate: &str) -> bool {
    let compact: String = candidate.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() != 9 || !consistent_separators(candidate) {
        return false;
    }
    const NEVER_ISSUED: [&str; 7] = ["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"];
    !NEVER_ISSUED.contains(&&compact[..2])
}

/// A Spanish DNI (`12345678Z`) or NIE (`X1234567L`) whose control letter matches.
pub(crate) fn es_dni(candidate: &str) -> bool {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let compact: String = candidate.chars().filter(|c| *c != '-').collect();
    let bytes = compact.as_bytes();
    if bytes.len() != 9 {
        return false;
    }
    let (body, control) = (&compact[..8], bytes[8]);
    let number = match body.as_bytes()[0] {
        b'X' => format!("0{}", &body[1..]),
        b'Y' => format!("1{}", &body[1..]),
        b'Z' => format!("2{}", &body[1..]),
        _ => body.to_owned(),
    };
    match number.parse::<u32>() {
        Ok(n) => LETTERS[(n % 23) as usize] == control,
        Err(_) => false,
    }
}

/// A North American number: area code and exchange both start with 2–9.
pub(crate) fn nanp_phone(candidate: &str) -> bool {
    let d = digits(candidate);
    d.len() == 10 && d.as_bytes()[0] >= b'2' && d.as_bytes()[3] >= b'2'
}

/// An international number: 8 to 15 digits after the `+` (E.164).
pub(crate) fn international_phone(candidate: &str) -> bool {
    (8..=15).contains(&digits(candidate).len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_need_luhn_and_an_issuer() {
        assert!(payment_card("4111 1111 1111 1111"));
        assert!(payment_card("5555-5555-5555-4444"));
        assert!(payment_card("378282246310005"));
        assert!(payment_card("6011111111111117"));
        assert!(!payment_card("4111 1111 1111 1112"), "bad checksum");
        assert!(!payment_card("4111-1111 1111 1111"), "mixed separators");
        assert!(!payment_card("1234567812345670"), "no issuer starts with 1");
        assert!(!payment_card("0000000000000000"));
    }

    #[test]
    fn iban_needs_mod97_and_country_format() {
        assert!(iban("DE89370400440532013000"));
        assert!(iban("GB82 WEST 1234 5698 7654 32"));
        assert!(!iban("DE89370400440532013001"), "bad checksum");
        assert!(!iban("XX89370400440532013000"), "unknown country");
    }

    #[test]
    fn ssn_follows_presidio_invalidation() {
        assert!(us_ssn("536-22-8726"));
        assert!(us_ssn("536 22 8726"));
        assert!(us_ssn("536228726"));
        assert!(!us_ssn("536-22 8726"), "mismatched delimiters");
        assert!(!us_ssn("111-11-1111"), "all equal");
        assert!(!us_ssn("536-00-8726"), "group 00");
        assert!(!us_ssn("536-22-0000"), "serial 0000");
        assert!(!us_ssn("000-22-8726"));
        assert!(!us_ssn("666-22-8726"));
        assert!(!us_ssn("912-22-8726"), "9xx is not an SSN area");
        assert!(!us_ssn("123-45-6789"), "sample number");
    }

    #[test]
    fn nino_and_dni_rules() {
        assert!(uk_nino("AB 12 34 56 C"));
        assert!(uk_nino("JG103759A"));
        assert!(!uk_nino("GB123456A"), "never issued");
        assert!(es_dni("12345678Z"));
        assert!(es_dni("X1234567L"));
        assert!(!es_dni("12345678A"), "wrong control letter");
    }

    #[test]
    fn phone_rules() {
        assert!(nanp_phone("(415) 555-2671"));
        assert!(
            !nanp_phone("(115) 555-2671"),
            "area code cannot start with 1"
        );
        assert!(international_phone("+44 20 7946 0958"));
        assert!(!international_phone("+1 555"));
    }
}
