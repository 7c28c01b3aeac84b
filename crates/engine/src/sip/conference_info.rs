//! The RFC 4575 `application/conference-info+xml` document: the roster a subscribed phone
//! shows. A full document on every SUBSCRIBE; then partial ones carrying only the users
//! that changed (each user written whole, so a subscriber replaces it as one piece) and
//! those that left (`state="deleted"`).
//!
//! Every name and URI in it comes from callers' requests, so all text goes through
//! [`xml_text`], which escapes markup and drops what XML 1.0 cannot carry at all (control
//! characters; escaping them would still be an invalid document).

use std::collections::BTreeMap;
use std::fmt::Write;

/// The longest display text copied from a From header.
const DISPLAY_MAX: usize = 64;
/// The longest URI copied into the document.
const URI_MAX: usize = 256;

/// One member's leg, as subscribers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// The member's Contact URI.
    pub(super) uri: String,
    pub(super) moderator: bool,
    pub(super) muted: bool,
    /// Brought in by the bridge (`*8`, REFER) rather than dialling in.
    pub(super) dialed_out: bool,
}

/// One user (a From URI) with its legs; two phones calling as the same user are one
/// user with two endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct User {
    pub(super) display: String,
    pub(super) endpoints: Vec<Endpoint>,
}

/// What a subscription last told its subscriber, and what it tells next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Roster {
    /// Users by URI.
    pub(super) users: BTreeMap<String, User>,
    pub(super) locked: bool,
}

/// The conference a document describes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Focus<'a> {
    /// The conference URI (the document's `entity`).
    pub(super) uri: &'a str,
    /// The extension or temporary id.
    pub(super) name: &'a str,
    pub(super) max_users: usize,
}

/// The whole roster.
pub(super) fn full(focus: Focus<'_>, version: u32, roster: &Roster) -> String {
    let mut doc = header(focus, version, "full");
    description(&mut doc, focus);
    state(&mut doc, roster, true);
    doc.push_str("  <users>\n");
    for (uri, user) in &roster.users {
        write_user(&mut doc, uri, user);
    }
    doc.push_str("  </users>\n</conference-info>\n");
    doc
}

/// What changed from `old` to `new`, or `None` when nothing did.
pub(super) fn partial(
    focus: Focus<'_>,
    version: u32,
    old: &Roster,
    new: &Roster,
) -> Option<String> {
    if old == new {
        return None;
    }
    let mut doc = header(focus, version, "partial");
    state(&mut doc, new, true);
    doc.push_str("  <users state=\"partial\">\n");
    for (uri, user) in &new.users {
        if old.users.get(uri) != Some(user) {
            write_user(&mut doc, uri, user);
        }
    }
    for uri in old.users.keys().filter(|u| !new.users.contains_key(*u)) {
        let _ = writeln!(
            doc,
            "    <user entity=\"{}\" state=\"deleted\"/>",
            xml_text(uri, URI_MAX)
        );
    }
    doc.push_str("  </users>\n</conference-info>\n");
    Some(doc)
}

/// The conference is over: nobody in, not active.
pub(super) fn ended(focus: Focus<'_>, version: u32) -> String {
    let mut doc = header(focus, version, "full");
    description(&mut doc, focus);
    state(&mut doc, &Roster::default(), false);
    doc.push_str("  <users/>\n</conference-info>\n");
    doc
}

fn header(focus: Focus<'_>, version: u32, state: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"{}\" state=\"{state}\" version=\"{version}\">\n",
        xml_text(focus.uri, URI_MAX)
    )
}

fn description(doc: &mut String, focus: Focus<'_>) {
    let uri = xml_text(focus.uri, URI_MAX);
    let _ = write!(
        doc,
        "  <conference-description>\n    <display-text>Conference {}</display-text>\n    <conf-uris>\n      <entry>\n        <uri>{uri}</uri>\n        <purpose>participation</purpose>\n      </entry>\n    </conf-uris>\n    <maximum-user-count>{}</maximum-user-count>\n  </conference-description>\n",
        xml_text(focus.name, URI_MAX),
        focus.max_users
    );
}

fn state(doc: &mut String, roster: &Roster, active: bool) {
    let _ = write!(
        doc,
        "  <conference-state>\n    <user-count>{}</user-count>\n    <active>{active}</active>\n    <locked>{}</locked>\n  </conference-state>\n",
        roster.users.len(),
        roster.locked
    );
}

fn write_user(doc: &mut String, uri: &str, user: &User) {
    let role = if user.endpoints.iter().any(|e| e.moderator) {
        "moderator"
    } else {
        "participant"
    };
    let _ = writeln!(
        doc,
        "    <user entity=\"{}\" state=\"full\">",
        xml_text(uri, URI_MAX)
    );
    if !user.display.is_empty() {
        let _ = writeln!(
            doc,
            "      <display-text>{}</display-text>",
            xml_text(&user.display, DISPLAY_MAX)
        );
    }
    let _ = writeln!(doc, "      <roles><entry>{role}</entry></roles>");
    for (index, endpoint) in user.endpoints.iter().enumerate() {
        // RFC 4575 §5.6.3: a member the focus keeps out of the mix is "muted-via-focus";
        // its audio then flows one way, from the conference to it.
        let (status, media) = if endpoint.muted {
            ("muted-via-focus", "recvonly")
        } else {
            ("connected", "sendrecv")
        };
        let joining = if endpoint.dialed_out {
            "dialed-out"
        } else {
            "dialed-in"
        };
        let _ = write!(
            doc,
            "      <endpoint entity=\"{}\" state=\"full\">\n        <status>{status}</status>\n        <joining-method>{joining}</joining-method>\n        <media id=\"{}\">\n          <type>audio</type>\n          <status>{media}</status>\n        </media>\n      </endpoint>\n",
            xml_text(&endpoint.uri, URI_MAX),
            index + 1
        );
    }
    doc.push_str("    </user>\n");
}

/// `text` cut to `max` characters, with markup escaped and characters XML 1.0 forbids
/// dropped.
pub(super) fn xml_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 6));
    for c in text
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{fffe}' | '\u{ffff}'))
        .take(max)
    {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The display name of a From or To header value (`"Alice" <sip:…>` or `Alice <sip:…>`),
/// empty when there is none.
pub(super) fn display_name(name_addr: &str) -> String {
    let value = name_addr.trim();
    let name = if let Some(quoted) = value.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => name.extend(chars.next()),
                '"' => break,
                c => name.push(c),
            }
        }
        name
    } else {
        match value.find('<') {
            Some(open) => value[..open].trim().to_owned(),
            None => String::new(),
        }
    };
    name.chars()
        .filter(|c| !c.is_control())
        .take(DISPLAY_MAX)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn focus() -> Focus<'static> {
        Focus {
            uri: "sip:500@127.0.0.1:5060",
            name: "500",
            max_users: 100,
        }
    }

    fn roster(users: &[(&str, &str, bool, bool)]) -> Roster {
        Roster {
            users: users
                .iter()
                .map(|(uri, display, moderator, muted)| {
                    (
                        (*uri).to_owned(),
                        User {
                            display: (*display).to_owned(),
                            endpoints: vec![Endpoint {
                                uri: format!("{uri};ep"),
                                moderator: *moderator,
                                muted: *muted,
                                dialed_out: false,
                            }],
                        },
                    )
                })
                .collect(),
            locked: false,
        }
    }

    #[test]
    fn full_documents_list_everyone_with_role_and_mute() {
        let doc = full(
            focus(),
            1,
            &roster(&[
                ("sip:alice@a", "Alice", true, false),
                ("sip:bob@b", "", false, true),
            ]),
        );
        assert!(doc.contains("state=\"full\" version=\"1\""), "{doc}");
        assert!(doc.contains("<user-count>2</user-count>"));
        assert!(doc.contains("<display-text>Alice</display-text>"));
        assert!(doc.contains("<roles><entry>moderator</entry></roles>"));
        assert!(doc.contains("<status>muted-via-focus</status>"));
        assert!(doc.contains("<status>recvonly</status>"));
    }

    #[test]
    fn partial_documents_carry_only_changes() {
        let old = roster(&[
            ("sip:alice@a", "A", true, false),
            ("sip:bob@b", "", false, false),
        ]);
        assert_eq!(partial(focus(), 2, &old, &old), None);
        let new = roster(&[
            ("sip:alice@a", "A", true, true),
            ("sip:carol@c", "", false, false),
        ]);
        let doc = partial(focus(), 2, &old, &new).expect("changed");
        assert!(doc.contains("state=\"partial\" version=\"2\""), "{doc}");
        assert!(doc.contains("<user entity=\"sip:alice@a\" state=\"full\">"));
        assert!(doc.contains("<user entity=\"sip:carol@c\" state=\"full\">"));
        assert!(doc.contains("<user entity=\"sip:bob@b\" state=\"deleted\"/>"));
        assert!(!doc.contains("conference-description"));
    }

    #[test]
    fn hostile_text_cannot_break_the_document() {
        assert_eq!(
            xml_text("<a href=\"x\">&'\u{1}\u{ffff}", 100),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
        assert_eq!(xml_text(&"x".repeat(500), 10).len(), 10);
        assert_eq!(display_name("\"Al\\\"ice\" <sip:a@b>"), "Al\"ice");
        assert_eq!(display_name("Bob <sip:b@c>;tag=1"), "Bob");
        assert_eq!(display_name("<sip:b@c>"), "");
        assert_eq!(display_name("sip:b@c"), "");
        assert_eq!(display_name("\"x\r\nVia: evil\" <sip:a@b>"), "xVia: evil");
    }
}
