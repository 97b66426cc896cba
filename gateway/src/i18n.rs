//! The website's languages: German, and English as the second. Every text
//! of the pages comes from one catalogue per language (`locales/*.toml`,
//! compiled in); a key missing in English falls back to German.
//!
//! The language is the browser's choice, remembered in a cookie: any page
//! with `?lang=en` sets it and shows itself again without the parameter.
//! The middleware makes the request's language and address known to the
//! code that renders it (a task-local: a request is one future).

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::LazyLock;

use amtstermin_catalogue::{english, german};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;

/// The cookie that remembers the choice.
pub const COOKIE: &str = "amtstermin_sprache";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    De,
    En,
}

static CATALOGUES: LazyLock<[HashMap<String, String>; 2]> = LazyLock::new(|| {
    [
        load(include_str!("../locales/de.toml")),
        load(include_str!("../locales/en.toml")),
    ]
});

/// The catalogue's nested tables as flat keys, `section.key`.
fn load(text: &str) -> HashMap<String, String> {
    fn flatten(prefix: &str, table: &toml::Table, into: &mut HashMap<String, String>) {
        for (key, value) in table {
            let key = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::String(text) => {
                    into.insert(key, text.clone());
                }
                toml::Value::Table(table) => flatten(&key, table, into),
                _ => {}
            }
        }
    }
    let mut texts = HashMap::new();
    // The catalogues are compiled in and tested; a broken one is empty.
    if let Ok(table) = text.parse::<toml::Table>() {
        flatten("", &table, &mut texts);
    }
    texts
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::De, Lang::En];

    /// The BCP 47 code, for `lang` and `hreflang`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|lang| lang.code() == code)
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::De => "Deutsch",
            Lang::En => "English",
        }
    }

    /// The other language of the two.
    pub fn other(self) -> Self {
        match self {
            Lang::De => Lang::En,
            Lang::En => Lang::De,
        }
    }

    fn catalogue(self) -> &'static HashMap<String, String> {
        &CATALOGUES[self as usize]
    }

    /// The text of `key`: this language's, else German's, else the key.
    pub fn t(self, key: &'static str) -> &'static str {
        self.catalogue()
            .get(key)
            .or_else(|| Lang::De.catalogue().get(key))
            .map_or(key, String::as_str)
    }

    /// The text of `key` with `{name}` replaced by `value`.
    pub fn t1(self, key: &'static str, name: &str, value: impl Display) -> String {
        self.t(key).replace(&format!("{{{name}}}"), &value.to_string())
    }

    /// The text of `key` with two placeholders replaced.
    pub fn t2(self, key: &'static str, first: (&str, &dyn Display), second: (&str, &dyn Display)) -> String {
        self.t(key)
            .replace(&format!("{{{}}}", first.0), &first.1.to_string())
            .replace(&format!("{{{}}}", second.0), &second.1.to_string())
    }
}

/// "Dienstag, 24. November 2026" or "Tuesday, 24 November 2026".
pub fn long_date(date: NaiveDate) -> String {
    match current() {
        Lang::De => german::long_date(date),
        Lang::En => english::long_date(date),
    }
}

/// "November 2026".
pub fn month(date: NaiveDate) -> String {
    match current() {
        Lang::De => german::month(date),
        Lang::En => english::month(date),
    }
}

/// The weekdays from Monday, in full and short, for a calendar's head.
pub fn weekdays() -> Vec<(&'static str, String)> {
    let names = match current() {
        Lang::De => german::WEEKDAYS,
        Lang::En => english::WEEKDAYS,
    };
    names
        .iter()
        .map(|name| (*name, name.chars().take(2).collect()))
        .collect()
}

#[derive(Clone)]
struct Current {
    lang: Lang,
    /// The page's path and query, for the link to the other language.
    page: String,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// The language of the request being answered (German outside of one).
pub fn current() -> Lang {
    CURRENT.try_with(|current| current.lang).unwrap_or_default()
}

/// This page in the other language.
pub fn switch_link() -> String {
    CURRENT
        .try_with(|current| with_lang(&current.page, current.lang.other()))
        .unwrap_or_else(|_| format!("/?lang={}", Lang::En.code()))
}

/// `page` with `lang=…` in its query.
fn with_lang(page: &str, lang: Lang) -> String {
    let separator = if page.contains('?') { '&' } else { '?' };
    format!("{page}{separator}lang={}", lang.code())
}

/// Remembers a `?lang=` choice and answers with the page without it;
/// otherwise runs the request in the language of the cookie.
pub async fn middleware(request: Request, next: Next) -> Response {
    let uri = request.uri().clone();
    // Pages only: the JSON API has no language and no redirects.
    let page_request = !uri.path().starts_with("/api/");
    let chosen = uri.query().filter(|_| page_request).and_then(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.strip_prefix("lang="))
            .find_map(Lang::parse)
    });
    if let Some(lang) = chosen {
        let rest: Vec<&str> = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.starts_with("lang=") && !pair.is_empty())
            .collect();
        // `//host` (or `/\host`, which browsers read alike) would leave the site.
        let path = match uri.path() {
            path if path.starts_with("//") || path.starts_with("/\\") => "/",
            path => path,
        };
        let location = if rest.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", rest.join("&"))
        };
        let cookie = format!(
            "{COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
            lang.code()
        );
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let (Ok(location), Ok(cookie)) = (HeaderValue::from_str(&location), HeaderValue::from_str(&cookie)) {
            response.headers_mut().insert(header::LOCATION, location);
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            return response;
        }
    }
    let lang = crate::web::cookie(request.headers(), COOKIE)
        .and_then(|code| Lang::parse(&code))
        .unwrap_or_default();
    let page = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |page| page.as_str().to_owned());
    CURRENT.scope(Current { lang, page }, next.run(request)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `{name}`s of a text.
    fn placeholders(text: &str) -> Vec<&str> {
        let mut names: Vec<&str> = text
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn both_catalogues_have_every_key_with_the_same_placeholders() {
        let [german, english] = &*CATALOGUES;
        assert!(german.len() > 100, "the German catalogue parses: {}", german.len());
        for (key, text) in german {
            let other = english.get(key).unwrap_or_else(|| panic!("English lacks {key}"));
            assert_eq!(placeholders(text), placeholders(other), "{key}");
            assert!(!other.trim().is_empty(), "{key} is empty in English");
        }
        for key in english.keys() {
            assert!(german.contains_key(key), "German lacks {key}");
        }
    }

    #[test]
    fn texts_fall_back_and_fill_in() {
        assert_eq!(Lang::En.t("nicht.vorhanden"), "nicht.vorhanden");
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(with_lang("/amt/x?anliegen=a", Lang::En), "/amt/x?anliegen=a&lang=en");
        assert_eq!(with_lang("/", Lang::De), "/?lang=de");
    }
}
