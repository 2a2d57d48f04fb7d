//! The words of HTTP desync classification, as the access log and metrics write them: the
//! classes and reason codes of AWS's `http_desync_guardian` (ALB's desync mitigation), so
//! users read the same words in Ballast's logs. The classifier itself is in `ballast-http`.

/// How risky a request's framing is, from harmless to certainly hostile. Ordered: a
/// request takes the highest class any of its parts earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum DesyncClass {
    /// Follows RFC 9110/9112; no known risk.
    #[default]
    Compliant,
    /// Breaks the RFC where no engine is known to frame differently.
    Acceptable,
    /// Engines are known to disagree on where such a request ends.
    Ambiguous,
    /// Malformed or hostile framing.
    Severe,
}

/// Why a request has its class: AWS's reason codes. Each reason belongs to one class, so
/// the reason alone is a request's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DesyncReason {
    /// Nothing to report.
    #[default]
    Compliant,
    /// A field with an empty name (or one starting with `:`).
    EmptyHeader,
    /// A field name that differs from `Transfer-Encoding` or `Content-Length` only by
    /// characters some engines ignore (`Transfer_Encoding`, `Content-Length\t`).
    SuspiciousHeader,
    /// A control or non-token character in a field name or value.
    NonCompliantHeader,
    /// CR, LF or NUL inside a field.
    BadHeader,
    /// A header line with no colon.
    MissingHeaderColon,
    /// A line that continues the field before it (obs-fold, RFC 9112 §5.2).
    MultilineHeader,
    /// A control character in the request target.
    AmbiguousUri,
    /// An unencoded space in the request target.
    SpaceInUri,
    /// CR, LF or NUL in the request target.
    BadUri,
    /// HTTP/0.9, or an HTTP/1 minor version above 1, or spaces around the version.
    NonCompliantVersion,
    /// A version that is not HTTP/1.
    BadVersion,
    /// A method that is not a token.
    BadMethod,
    /// `Content-Length: 0` on GET or HEAD.
    GetHeadZeroContentLength,
    /// A body length on GET or HEAD, or on HTTP/0.9.
    UndefinedContentLengthSemantics,
    /// Two `Content-Length` values that differ.
    MultipleContentLength,
    /// The same `Content-Length` twice.
    DuplicateContentLength,
    /// A `Content-Length` that is not a decimal number.
    BadContentLength,
    /// `Transfer-Encoding` on GET or HEAD, or before HTTP/1.1.
    UndefinedTransferEncodingSemantics,
    /// `chunked` twice.
    MultipleTransferEncodingChunked,
    /// An unknown transfer coding, or codings no length can be read from.
    BadTransferEncoding,
    /// Both `Transfer-Encoding` and `Content-Length`.
    BothTeClPresent,
}

impl DesyncClass {
    /// All classes, lowest first.
    pub const ALL: [DesyncClass; 4] = [
        DesyncClass::Compliant,
        DesyncClass::Acceptable,
        DesyncClass::Ambiguous,
        DesyncClass::Severe,
    ];

    /// The name in logs and metrics (AWS's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            DesyncClass::Compliant => "Compliant",
            DesyncClass::Acceptable => "Acceptable",
            DesyncClass::Ambiguous => "Ambiguous",
            DesyncClass::Severe => "Severe",
        }
    }
}

impl DesyncReason {
    /// All reasons, `Compliant` first; a reason's position is its index in the listener
    /// metrics' `desync` counters.
    pub const ALL: [DesyncReason; 22] = [
        DesyncReason::Compliant,
        DesyncReason::EmptyHeader,
        DesyncReason::SuspiciousHeader,
        DesyncReason::NonCompliantHeader,
        DesyncReason::BadHeader,
        DesyncReason::MissingHeaderColon,
        DesyncReason::MultilineHeader,
        DesyncReason::AmbiguousUri,
        DesyncReason::SpaceInUri,
        DesyncReason::BadUri,
        DesyncReason::NonCompliantVersion,
        DesyncReason::BadVersion,
        DesyncReason::BadMethod,
        DesyncReason::GetHeadZeroContentLength,
        DesyncReason::UndefinedContentLengthSemantics,
        DesyncReason::MultipleContentLength,
        DesyncReason::DuplicateContentLength,
        DesyncReason::BadContentLength,
        DesyncReason::UndefinedTransferEncodingSemantics,
        DesyncReason::MultipleTransferEncodingChunked,
        DesyncReason::BadTransferEncoding,
        DesyncReason::BothTeClPresent,
    ];

    /// The class this reason puts a request in.
    pub fn class(self) -> DesyncClass {
        use DesyncReason::*;
        match self {
            Compliant => DesyncClass::Compliant,
            NonCompliantHeader | SpaceInUri | NonCompliantVersion | GetHeadZeroContentLength => {
                DesyncClass::Acceptable
            }
            EmptyHeader
            | SuspiciousHeader
            | MissingHeaderColon
            | MultilineHeader
            | AmbiguousUri
            | UndefinedContentLengthSemantics
            | DuplicateContentLength
            | UndefinedTransferEncodingSemantics
            | BothTeClPresent => DesyncClass::Ambiguous,
            BadHeader
            | BadUri
            | BadVersion
            | BadMethod
            | MultipleContentLength
            | BadContentLength
            | MultipleTransferEncodingChunked
            | BadTransferEncoding => DesyncClass::Severe,
        }
    }

    /// The reason code in logs and metrics (AWS's spelling).
    pub fn as_str(self) -> &'static str {
        use DesyncReason::*;
        match self {
            Compliant => "Compliant",
            EmptyHeader => "EmptyHeader",
            SuspiciousHeader => "SuspiciousHeader",
            NonCompliantHeader => "NonCompliantHeader",
            BadHeader => "BadHeader",
            MissingHeaderColon => "MissingHeaderColon",
            MultilineHeader => "MultilineHeader",
            AmbiguousUri => "AmbiguousUri",
            SpaceInUri => "SpaceInUri",
            BadUri => "BadUri",
            NonCompliantVersion => "NonCompliantVersion",
            BadVersion => "BadVersion",
            BadMethod => "BadMethod",
            GetHeadZeroContentLength => "GetHeadZeroContentLength",
            UndefinedContentLengthSemantics => "UndefinedContentLengthSemantics",
            MultipleContentLength => "MultipleContentLength",
            DuplicateContentLength => "DuplicateContentLength",
            BadContentLength => "BadContentLength",
            UndefinedTransferEncodingSemantics => "UndefinedTransferEncodingSemantics",
            MultipleTransferEncodingChunked => "MultipleTransferEncodingChunked",
            BadTransferEncoding => "BadTransferEncoding",
            BothTeClPresent => "BothTeClPresent",
        }
    }

    /// Raises this verdict to `reason` when that puts the request in a higher class: the
    /// first reason found at the highest class is the one reported.
    #[inline]
    pub fn raise(&mut self, reason: DesyncReason) {
        if reason.class() > self.class() {
            *self = reason;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed_in_their_index_order_and_named_once() {
        for (i, r) in DesyncReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        let mut names: Vec<_> = DesyncReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DesyncReason::ALL.len());
    }

    #[test]
    fn the_first_reason_at_the_highest_class_wins() {
        let mut v = DesyncReason::Compliant;
        v.raise(DesyncReason::SpaceInUri);
        v.raise(DesyncReason::NonCompliantHeader);
        assert_eq!(v, DesyncReason::SpaceInUri);
        v.raise(DesyncReason::BadContentLength);
        v.raise(DesyncReason::BadHeader);
        assert_eq!(v, DesyncReason::BadContentLength);
        v.raise(DesyncReason::BothTeClPresent);
        assert_eq!(v.class(), DesyncClass::Severe);
    }
}
