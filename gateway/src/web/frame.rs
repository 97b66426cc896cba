//! What every page shows around its content: who runs the site (the header
//! links back to the operator's own website) and how to reach the office
//! (the footer), from the offices' configuration.

use amtstermin_catalogue::OfficeCatalogue;
use amtstermin_proto::availability::v1 as availability;

use crate::Services;
use crate::i18n::{self, Lang};

/// The header's and footer's content, and the page's language. The default
/// is a neutral frame, for pages with no office behind them (an error
/// before any lookup).
pub struct Frame {
    /// The language the page is written in.
    pub lang: Lang,
    /// This page in the other language.
    pub switch_link: String,
    /// The operator, e.g. "Stadt Bergkamen"; empty: none configured.
    pub operator: String,
    /// The operator's website; empty: none.
    pub website: String,
    /// The office whose contact the footer shows.
    pub contact: Option<Contact>,
}

pub struct Contact {
    pub office_name: String,
    pub phone: String,
    /// `tel:` form of the phone number.
    pub phone_link: String,
    pub email: String,
    pub opening_hours: Vec<String>,
}

impl Default for Frame {
    fn default() -> Self {
        Self {
            lang: i18n::current(),
            switch_link: i18n::switch_link(),
            operator: String::new(),
            website: String::new(),
            contact: None,
        }
    }
}

impl Frame {
    /// The text of `key` in the page's language.
    pub fn t(&self, key: &'static str) -> &'static str {
        self.lang.t(key)
    }

    /// The text of `key` with `{name}` filled in.
    pub fn t1(&self, key: &'static str, name: &str, value: impl std::fmt::Display) -> String {
        self.lang.t1(key, name, value)
    }

    /// The frame of one office's pages.
    pub fn office(office: &OfficeCatalogue) -> Self {
        Self::of(&office.office)
    }

    fn of(office: &availability::Office) -> Self {
        let legal = office.legal.clone().unwrap_or_default();
        let contact = office.contact.clone().unwrap_or_default();
        let has_contact = !contact.phone.is_empty() || !contact.email.is_empty() || !contact.opening_hours.is_empty();
        Self {
            operator: legal.operator,
            website: legal.website,
            contact: has_contact.then(|| Contact {
                office_name: office.name.clone(),
                phone_link: contact
                    .phone
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect(),
                phone: contact.phone,
                email: contact.email,
                opening_hours: contact.opening_hours,
            }),
            ..Self::default()
        }
    }

    /// The frame of pages for the whole site: the operator all offices
    /// share (none if they differ), the contact where there is one office.
    pub fn site(offices: &[availability::Office]) -> Self {
        match offices {
            [office] => Self::of(office),
            [first, rest @ ..] => {
                let frame = Self::of(first);
                let operator =
                    |office: &availability::Office| office.legal.as_ref().map(|legal| legal.operator.clone());
                if rest.iter().all(|office| operator(office) == operator(first)) {
                    Self { contact: None, ..frame }
                } else {
                    Self::default()
                }
            }
            [] => Self::default(),
        }
    }
}

impl Services {
    /// The frame for pages about the whole site; a neutral one when the
    /// offices cannot be read (the page itself still works).
    pub async fn site_frame(&self) -> Frame {
        match self.catalogues.offices().await {
            Ok(offices) => Frame::site(&offices),
            Err(_) => Frame::default(),
        }
    }
}
