//! The `Location` of a redirect action: its templates filled from the request.

use ballast_config::RedirectConfig;

/// The parts of a request a redirect template may use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RedirectInput<'a> {
    /// `http` or `https`: how the client reached the listener.
    pub(crate) protocol: &'a str,
    /// The request's host, without port.
    pub(crate) host: &'a str,
    /// The listener port the client connected to.
    pub(crate) port: &'a str,
    /// The request path, with its leading `/`.
    pub(crate) path: &'a str,
    /// The query string without `?` (empty when none).
    pub(crate) query: &'a str,
}

/// `protocol://host[:port]/path[?query]`; the port is left out when it is the protocol's
/// default, and `?` when the query is empty. `#{path}` is the path without its leading `/`,
/// as on ALB (so `/#{path}` keeps it).
pub(crate) fn redirect_location(config: &RedirectConfig, req: RedirectInput<'_>) -> String {
    let expand = |template: &str| {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(start) = rest.find("#{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').unwrap_or(after.len());
            out.push_str(match &after[..end] {
                "protocol" => req.protocol,
                "host" => req.host,
                "port" => req.port,
                "path" => req.path.strip_prefix('/').unwrap_or(req.path),
                "query" => req.query,
                _ => "",
            });
            rest = after.get(end + 1..).unwrap_or("");
        }
        out.push_str(rest);
        out
    };
    let protocol = expand(&config.protocol);
    let (host, port, path, query) = (
        expand(&config.host),
        expand(&config.port),
        expand(&config.path),
        expand(&config.query),
    );
    let default_port = match protocol.as_str() {
        "https" => "443",
        _ => "80",
    };
    let mut location = format!("{protocol}://{host}");
    if port != default_port && !port.is_empty() {
        location.push(':');
        location.push_str(&port);
    }
    location.push_str(&path);
    if !query.is_empty() {
        location.push('?');
        location.push_str(&query);
    }
    location
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(protocol: &str, host: &str, port: &str, path: &str, query: &str) -> RedirectConfig {
        RedirectConfig {
            status: 301,
            protocol: protocol.into(),
            host: host.into(),
            port: port.into(),
            path: path.into(),
            query: query.into(),
        }
    }

    const REQ: RedirectInput<'static> = RedirectInput {
        protocol: "http",
        host: "example.com",
        port: "8080",
        path: "/old/page",
        query: "a=1",
    };

    #[test]
    fn templates_are_filled_from_the_request() {
        let to_https = config("https", "#{host}", "443", "/#{path}", "#{query}");
        assert_eq!(
            redirect_location(&to_https, REQ),
            "https://example.com/old/page?a=1"
        );
        let moved = config(
            "#{protocol}",
            "www.#{host}",
            "#{port}",
            "/new/#{path}",
            "#{query}&from=old",
        );
        assert_eq!(
            redirect_location(&moved, REQ),
            "http://www.example.com:8080/new/old/page?a=1&from=old"
        );
        let plain = config("#{protocol}", "#{host}", "80", "/", "");
        assert_eq!(redirect_location(&plain, REQ), "http://example.com/");
    }
}
