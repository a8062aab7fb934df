//! The URL rule: an absolute `http(s)://` URL with a host, checked
//! without a URL parser.

/// `Some(true)` for an absolute https URL with a host, `Some(false)` for http,
/// `None` for anything else. A rule, not a full URL parser: scheme, a host of
/// name or address characters, an optional port, no white space or control
/// characters anywhere.
///
/// This runs for every URL of every line, so the common case (printable
/// ASCII, a name for a host) takes one vectorised pass over the bytes and one
/// table-driven pass over the authority; anything else (non-ASCII, controls,
/// an IPv6 literal) goes to [`url_scheme_general`], which the tests hold it to.
///
/// It takes the URL's bytes or its text (the fast path reads bytes); bytes
/// that are not UTF-8 are no URL.
pub(crate) fn url_scheme(url: &(impl AsRef<[u8]> + ?Sized)) -> Option<bool> {
    let bytes = url.as_ref();
    if !super::simd::printable_ascii(bytes) {
        return url_scheme_general(std::str::from_utf8(bytes).ok()?);
    }
    let (https, rest) = match bytes.first_chunk::<8>() {
        // The scheme in one word. In printable ASCII, setting bit 0x20
        // lowers the letters, leaves `:` and `/`, and makes no other byte
        // into one of these (only the controls 0x1a and 0x0f would): so
        // this is the case-blind compare, at a tenth of its cost a URL.
        Some(head) => {
            let word = u64::from_le_bytes(*head) | 0x2020_2020_2020_2020;
            if word == u64::from_le_bytes(*b"https://") {
                (true, &bytes[8..])
            } else if word & 0x00ff_ffff_ffff_ffff == u64::from_le_bytes(*b"http://\0") {
                (false, &bytes[7..])
            } else {
                return None;
            }
        }
        // Too short for a host after `https://`.
        None => (false, strip_prefix_ignore_case_bytes(bytes, b"http://")?),
    };
    // The usual authority is a host name alone: one tight pass finds where
    // it ends, and only an authority with a port, user or odd byte takes the
    // pass below.
    let host_end = super::simd::host_len(rest);
    if rest
        .get(host_end)
        .is_none_or(|&b| AUTHORITY[usize::from(b)] == END)
    {
        let ok = host_end > 0 && !matches!(rest[0], b'.' | b'-');
        return ok.then_some(https);
    }
    // Where the authority ends, its last '@' and the ':' after it, and the
    // last byte that cannot be in a host name (before that ':' and overall).
    let (mut end, mut at, mut colon) = (rest.len(), None, None);
    let (mut odd, mut odd_before_colon) = (None, None);
    for (i, &b) in rest.iter().enumerate() {
        match AUTHORITY[usize::from(b)] {
            HOST => {}
            END => {
                end = i;
                break;
            }
            AT => (at, colon, odd) = (Some(i), None, Some(i)),
            COLON => (colon, odd_before_colon, odd) = (Some(i), odd, Some(i)),
            _ => odd = Some(i),
        }
    }
    let start = at.map_or(0, |i| i + 1);
    if rest.get(start) == Some(&b'[') {
        return url_scheme_general(std::str::from_utf8(bytes).ok()?);
    }
    let (host_end, odd) = match colon {
        Some(i) if is_port(&rest[i + 1..end]) => (i, odd_before_colon),
        Some(_) => return None,
        None => (end, odd),
    };
    let ok =
        host_end > start && !matches!(rest[start], b'.' | b'-') && odd.is_none_or(|i| i < start);
    ok.then_some(https)
}

/// The classes of [`AUTHORITY`].
const HOST: u8 = 0;
const OTHER: u8 = 1;
const AT: u8 = 2;
const COLON: u8 = 3;
const END: u8 = 4;

/// Each ASCII byte's class in a URL's authority: a host name byte (letters,
/// digits, `.`, `-`, `_`), `@`, `:`, a byte that ends the authority (`/`, `?`,
/// `#`), or anything else.
static AUTHORITY: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => HOST,
            b'@' => AT,
            b':' => COLON,
            b'/' | b'?' | b'#' => END,
            _ => OTHER,
        };
        b += 1;
    }
    t
};

/// [`url_scheme`] for any text: the rule as first written, kept for the
/// inputs the fast pass does not take and as its reference in the tests.
pub(crate) fn url_scheme_general(url: &str) -> Option<bool> {
    let (https, rest) = if let Some(r) = strip_prefix_ignore_case(url, "https://") {
        (true, r)
    } else {
        (false, strip_prefix_ignore_case(url, "http://")?)
    };
    // One branch-free pass over the bytes (it vectorises) finds white space,
    // control and non-ASCII bytes; the char test runs only for non-ASCII URLs.
    let (bad, wide) = url_bytes_flags(url.as_bytes());
    if bad || (wide && url.chars().any(|c| c.is_whitespace() || c.is_control())) {
        return None;
    }
    // One pass over the authority: where it ends, the last '@' and ':'.
    let bytes = rest.as_bytes();
    let (mut end, mut at, mut colon) = (bytes.len(), None, None);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'/' | b'?' | b'#' => {
                end = i;
                break;
            }
            b'@' => (at, colon) = (Some(i), None),
            b':' => colon = Some(i),
            _ => {}
        }
    }
    let start = at.map_or(0, |i| i + 1);
    let host_port = &rest[start..end];
    if let Some(v6) = host_port.strip_prefix('[') {
        let (addr, after) = v6.split_once(']')?;
        let addr_ok = !addr.is_empty()
            && addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| is_port(p.as_bytes()));
        return (addr_ok && port_ok).then_some(https);
    }
    let host = match colon {
        Some(i) if is_port(&bytes[i + 1..end]) => &rest[start..i],
        Some(_) => return None,
        None => host_port,
    };
    let ok = !host.is_empty()
        && !host.starts_with(['.', '-'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') || b >= 0x80)
        && (!wide || host.chars().all(|c| c.is_alphanumeric() || c.is_ascii()));
    ok.then_some(https)
}

/// Whether `bytes` hold white space or control bytes, and non-ASCII bytes:
/// 16 at a time in a fixed-size loop the compiler turns into vector code.
fn url_bytes_flags(bytes: &[u8]) -> (bool, bool) {
    let test = |acc: (bool, bool), b: u8| (acc.0 | (b <= b' ') | (b == 0x7F), acc.1 | (b >= 0x80));
    let mut chunks = bytes.chunks_exact(16);
    let mut acc = (false, false);
    for chunk in &mut chunks {
        let mut lanes = [(false, false); 16];
        for (lane, &b) in lanes.iter_mut().zip(chunk) {
            *lane = test((false, false), b);
        }
        acc = lanes.iter().fold(acc, |a, l| (a.0 | l.0, a.1 | l.1));
    }
    chunks.remainder().iter().fold(acc, |a, &b| test(a, b))
}

fn is_port(p: &[u8]) -> bool {
    !p.is_empty() && p.len() <= 5 && p.iter().all(u8::is_ascii_digit)
}

/// `s` without `prefix` (ASCII), matched regardless of case.
fn strip_prefix_ignore_case_bytes<'s>(s: &'s [u8], prefix: &[u8]) -> Option<&'s [u8]> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// [`strip_prefix_ignore_case_bytes`] of text. The head it takes matches an
/// ASCII prefix, so it ends on a character boundary.
fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    strip_prefix_ignore_case_bytes(s.as_bytes(), prefix.as_bytes()).map(|_| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(url_scheme("https://assets.sync.so/docs/a.mp4"), Some(true));
        assert_eq!(url_scheme("HTTP://example.com:8080/x?y#z"), Some(false));
        assert_eq!(url_scheme("https://user:pw@[::1]:443/x"), Some(true));
        assert_eq!(url_scheme("https://bücher.de/x"), Some(true));
        assert_eq!(url_scheme("https://u:p@h.io:80/x"), Some(true));
        assert_eq!(url_scheme("https://a@b@c.io?q=1:2"), Some(true));
        assert_eq!(url_scheme("https://h.io#frag"), Some(true));
        assert_eq!(url_scheme("https://h.io:/x"), None);
        assert_eq!(url_scheme("https://h.io:123456/x"), None);
        assert_eq!(url_scheme("https://[::1/x"), None);
        assert_eq!(url_scheme("https://bü cher.de/x"), None);
        assert_eq!(url_scheme("https://h.io/\u{2003}x"), None);
        assert_eq!(url_scheme("https://h\u{2603}.io/"), None);
        for bad in [
            "",
            "ftp://x.com/a",
            "https://",
            "https:///a",
            "htps:/x.com",
            "https://a b.com",
            "https://x.com/a b",
            "//x.com",
            "https://x.com:port/",
            "https://.x/",
        ] {
            assert_eq!(url_scheme(bad), None, "{bad}");
        }
    }

    /// Every printable byte, in every place of either scheme, against the
    /// general rule: the quick pass compares the scheme as one word.
    #[test]
    fn every_byte_in_the_scheme_agrees_with_the_general_rule() {
        for base in ["https://a.io/x", "http://a.io/x", "HTTP://a.io", "http://"] {
            for at in 0..8.min(base.len()) {
                for b in 0x21..=0x7eu8 {
                    let mut url = base.as_bytes().to_vec();
                    url[at] = b;
                    let url = String::from_utf8(url).unwrap();
                    assert_eq!(url_scheme(&url), url_scheme_general(&url), "{url:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        /// The fast pass agrees with the general rule on URL-like text full of
        /// the bytes that matter to it: '@', ':', ports, brackets, delimiters,
        /// space, controls and non-ASCII.
        #[test]
        fn fast_urls_agree_with_the_general_rule(
            scheme in proptest::sample::select(vec![
                "https://", "http://", "HTTPS://", "hTtP://", "ftp://", "https:/", "",
                // One byte off each word the quick pass compares.
                "http:/", "htps://", "httpz://", "https:;/", "https:/?", "HTTP:/", "https/:/", "http;//",
            ]),
            rest in "[a-z0-9.\\-]{0,30}[a-z0-9.\\-_@:/?#\\[\\] \t\u{7f}é%!~A-Z]{0,24}[a-z.]{0,10}[a-z0-9.\\-_@:/?#\\[\\] \t\u{7f}é%!~A-Z]{0,24}",
        ) {
            let url = format!("{scheme}{rest}");
            proptest::prop_assert_eq!(url_scheme(&url), url_scheme_general(&url), "{:?}", url);
        }
    }
}
