//! The citizen's contact details, checked the same way wherever they are
//! entered: the booking service decides, and the website's form finds every
//! mistake at once (not one per round trip) by asking the same functions.

use crate::ErrorCode;

/// Characters that reorder the text around them (U+202E turns a name around
/// on the desk's screen), or mark direction invisibly.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A name: 1 to 200 characters with a letter, no control or direction
/// characters.
pub fn name(name: &str) -> Result<String, ErrorCode> {
    let name = name.trim();
    let length = name.chars().count();
    if length == 0
        || length > 200
        || name.chars().any(|c| c.is_control() || is_bidi_control(c))
        || !name.chars().any(char::is_alphabetic)
    {
        return Err(ErrorCode::InvalidName);
    }
    Ok(name.to_owned())
}

/// A deliberately plain check of an email address: one `@`, a non-empty
/// local part, a domain with a dot and sane labels. The confirmation mail
/// is the real test.
pub fn email(email: &str) -> Result<String, ErrorCode> {
    let email = email.trim();
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ErrorCode::InvalidEmail);
    }
    let (local, domain) = email.split_once('@').ok_or(ErrorCode::InvalidEmail)?;
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    if local.is_empty() || local.len() > 64 || !domain.contains('.') || !labels_ok {
        return Err(ErrorCode::InvalidEmail);
    }
    Ok(email.to_owned())
}

/// An optional phone number: digits, spaces and `+ - / ( )`, at most 30
/// characters with at least 3 digits; empty when none is given.
pub fn phone(phone: &str) -> Result<String, ErrorCode> {
    let phone = phone.trim();
    if phone.is_empty() {
        return Ok(String::new());
    }
    let allowed = |c: char| c.is_ascii_digit() || " +-/()".contains(c);
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if phone.len() > 30 || !phone.chars().all(allowed) || digits < 3 {
        return Err(ErrorCode::InvalidPhone);
    }
    Ok(phone.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_need_a_letter_and_no_hidden_characters() {
        assert_eq!(name("  Erika Mustermann ").as_deref(), Ok("Erika Mustermann"));
        for bad in ["", "   ", "12345", "Eri\u{0}ka", "\u{202E}akirE", &"a".repeat(201)] {
            assert_eq!(name(bad), Err(ErrorCode::InvalidName), "{bad:?}");
        }
    }

    #[test]
    fn emails_have_a_local_part_and_a_dotted_domain() {
        assert_eq!(email(" erika@example.de ").as_deref(), Ok("erika@example.de"));
        for bad in [
            "erika",
            "erika@",
            "@example.de",
            "erika@example",
            "eri ka@example.de",
            "erika@-x.de",
            "erika@x..de",
        ] {
            assert_eq!(email(bad), Err(ErrorCode::InvalidEmail), "{bad:?}");
        }
    }

    #[test]
    fn phones_are_digits_and_a_few_signs() {
        assert_eq!(phone("").as_deref(), Ok(""));
        assert_eq!(phone("+49 2307 965-0").as_deref(), Ok("+49 2307 965-0"));
        for bad in ["12", "0800 CALL ME", &"1".repeat(31)] {
            assert_eq!(phone(bad), Err(ErrorCode::InvalidPhone), "{bad:?}");
        }
    }
}
