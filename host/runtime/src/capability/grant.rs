//! Grant patterns: which origins (scheme, host, port) a function may send HTTP requests to.
//!
//! A pattern is `scheme://host[:port]` with `http` or `https`, a host name, an IPv4 address, a
//! bracketed IPv6 address or a `*.` wildcard over the labels left of a domain, and a port number or
//! `*`; no path, query or credentials. It parses and matches only: it never decides who holds it.

use std::fmt;
use std::str::FromStr;

use super::Error;

/// A parsed grant pattern, in canonical form (lower case, default port left out when printed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantPattern {
    scheme: Scheme,
    host: Host,
    port: Port,
}

/// The two schemes a grant can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// The scheme called `name`, if it is one a grant can name.
    pub fn parse(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else if name.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Host {
    /// This host exactly (a name, an IPv4 address, or an IPv6 address in brackets).
    Exact(String),
    /// Any host with at least one more label in front of this suffix (`*.example.com`).
    Subdomains(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Port {
    Number(u16),
    Any,
}

impl GrantPattern {
    /// Whether a request to `scheme://host:port` is covered. `host` is compared without case and
    /// without a trailing dot.
    pub fn allows(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        if scheme != self.scheme {
            return false;
        }
        match self.port {
            Port::Number(p) if p != port => return false,
            _ => {}
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match &self.host {
            Host::Exact(h) => *h == host,
            Host::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|front| front.strip_suffix('.'))
                .is_some_and(|front| !front.is_empty()),
        }
    }

    /// The narrowest pattern that allows exactly this origin, as shown in a denial's hint.
    pub fn for_origin(scheme: Scheme, host: &str, port: u16) -> Self {
        Self {
            scheme,
            host: Host::Exact(host.trim_end_matches('.').to_ascii_lowercase()),
            port: Port::Number(port),
        }
    }
}

impl fmt::Display for GrantPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.host {
            Host::Exact(h) => f.write_str(h)?,
            Host::Subdomains(s) => write!(f, "*.{s}")?,
        }
        match self.port {
            Port::Any => f.write_str(":*"),
            Port::Number(p) if p == self.scheme.default_port() => Ok(()),
            Port::Number(p) => write!(f, ":{p}"),
        }
    }
}

impl FromStr for GrantPattern {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::BadGrant {
            pattern: text.to_owned(),
            reason: why.to_owned(),
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("it must start with http:// or https://"))?;
        let scheme =
            Scheme::parse(scheme).ok_or_else(|| bad("the scheme must be http or https"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad(
                "a grant names an origin only (scheme, host, port), not a path or a query",
            ));
        }
        if rest.contains('@') {
            return Err(bad("a grant cannot hold credentials"));
        }
        let (host, port) = split_host_port(rest).map_err(|why| bad(&why))?;
        let port = match port {
            None => Port::Number(scheme.default_port()),
            Some("*") => Port::Any,
            Some(p) => Port::Number(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad(&format!("{p:?} is not a port number (1-65535 or *)")))?,
            ),
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host = if let Some(suffix) = host.strip_prefix("*.") {
            check_name(suffix).map_err(|why| bad(&why))?;
            if !suffix.contains('.') {
                return Err(bad(
                    "a wildcard must stand in front of a domain with at least two labels, like *.example.com",
                ));
            }
            Host::Subdomains(suffix.to_owned())
        } else if host.starts_with('[') {
            let inner = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .ok_or_else(|| bad("an IPv6 address must be written in brackets, like [::1]"))?;
            let ip: std::net::Ipv6Addr = inner
                .parse()
                .map_err(|_| bad(&format!("{inner:?} is not an IPv6 address")))?;
            Host::Exact(format!("[{ip}]"))
        } else {
            if host.contains('*') {
                return Err(bad(
                    "a wildcard may only be the first label, as in *.example.com",
                ));
            }
            check_name(&host).map_err(|why| bad(&why))?;
            Host::Exact(host)
        };
        Ok(Self { scheme, host, port })
    }
}

/// Splits `host[:port]`, with IPv6 hosts in brackets.
fn split_host_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if text.starts_with('[') {
        let end = text
            .find(']')
            .ok_or_else(|| "an IPv6 address must end with ]".to_owned())?;
        let (host, rest) = text.split_at(end + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => rest
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or_else(|| format!("unexpected {rest:?} after the host")),
        };
    }
    Ok(match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    })
}

/// Checks a host name (or IPv4 address): labels of letters, digits and hyphens, 253 bytes at most.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the host is missing".to_owned());
    }
    if name.len() > 253 {
        return Err("the host is longer than 253 characters".to_owned());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{name:?} is not a valid host name"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> GrantPattern {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn exact_hosts_match_their_scheme_host_and_port_only() {
        let g = p("http://127.0.0.1:8080");
        assert!(g.allows(Scheme::Http, "127.0.0.1", 8080));
        assert!(!g.allows(Scheme::Http, "127.0.0.1", 8081));
        assert!(!g.allows(Scheme::Https, "127.0.0.1", 8080));
        assert!(!g.allows(Scheme::Http, "127.0.0.2", 8080));
        let g = p("https://API.Example.com/");
        assert_eq!(g.to_string(), "https://api.example.com");
        assert!(g.allows(Scheme::Https, "api.example.com.", 443));
        assert!(!g.allows(Scheme::Https, "api.example.com", 8443));
    }

    #[test]
    fn wildcards_cover_subdomains_but_not_the_domain_itself() {
        let g = p("https://*.example.com");
        assert!(g.allows(Scheme::Https, "mail.example.com", 443));
        assert!(g.allows(Scheme::Https, "a.b.example.com", 443));
        assert!(!g.allows(Scheme::Https, "example.com", 443));
        assert!(!g.allows(Scheme::Https, "badexample.com", 443));
        assert!(!g.allows(Scheme::Https, "example.com.evil.org", 443));
        let any_port = p("http://localhost:*");
        assert!(any_port.allows(Scheme::Http, "localhost", 1));
        assert_eq!(any_port.to_string(), "http://localhost:*");
    }

    #[test]
    fn ipv6_hosts_are_bracketed_and_normalised() {
        let g = p("http://[0:0::1]:9000");
        assert_eq!(g.to_string(), "http://[::1]:9000");
        assert!(g.allows(Scheme::Http, "[::1]", 9000));
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_reason() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "http://",
            "http://example.com/path",
            "http://example.com?q=1",
            "http://user:pw@example.com",
            "http://example.com:0",
            "http://example.com:99999",
            "http://example.com:http",
            "http://*.com",
            "http://a.*.example.com",
            "http://exa mple.com",
            "http://[::1",
            "http://[zz]:80",
        ] {
            let err = bad.parse::<GrantPattern>().unwrap_err().to_string();
            assert!(err.starts_with("[KEEL-C1]"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_hint_for_an_origin_allows_exactly_it() {
        let g = GrantPattern::for_origin(Scheme::Http, "127.0.0.1", 80);
        assert_eq!(g.to_string(), "http://127.0.0.1");
        assert_eq!(p(&g.to_string()), g);
    }
}
