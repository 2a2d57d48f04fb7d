//! Every fault's status, reason, side and connection handling, in one table.

use super::*;

fn io(kind: std::io::ErrorKind) -> std::io::Error {
    kind.into()
}

#[test]
fn every_fault_has_its_status_reason_and_side() {
    use std::io::ErrorKind as K;
    let table: Vec<(Fault, u16, &str, Side)> = vec![
        (
            Fault::Head(HeadError::Malformed("x")),
            400,
            "Client.MalformedRequest",
            Side::Client,
        ),
        (
            Fault::Head(HeadError::TooLarge),
            431,
            "Client.HeaderTooLarge",
            Side::Client,
        ),
        (
            Fault::Head(HeadError::TooManyFields),
            431,
            "Client.TooManyHeaders",
            Side::Client,
        ),
        (
            Fault::Head(HeadError::UriTooLong),
            414,
            "Client.UriTooLong",
            Side::Client,
        ),
        (
            Fault::Head(HeadError::AmbiguousFraming),
            400,
            "Client.AmbiguousFraming",
            Side::Client,
        ),
        (
            Fault::Head(HeadError::BadTransferEncoding),
            400,
            "Client.BadTransferEncoding",
            Side::Client,
        ),
        (
            Fault::Head(HeadError::BadContentLength),
            400,
            "Client.InvalidContentLength",
            Side::Client,
        ),
        (
            Fault::Head(HeadError::MissingHost),
            400,
            "Client.MissingHost",
            Side::Client,
        ),
        (
            Fault::Head(HeadError::InvalidHost),
            400,
            "Client.InvalidHost",
            Side::Client,
        ),
        (
            Fault::Head(HeadError::BadTarget),
            400,
            "Client.InvalidRequestTarget",
            Side::Client,
        ),
        (
            Fault::Head(HeadError::Connect),
            405,
            "Client.MethodNotAllowed",
            Side::Client,
        ),
        (
            Fault::BadRequestBody(BodyError::Closed),
            400,
            "Client.InvalidBody",
            Side::Client,
        ),
        (
            Fault::ClientBodyTimeout,
            408,
            "Client.BodyTimeout",
            Side::Client,
        ),
        (Fault::NoTarget, 503, "Group.NoTarget", Side::Target),
        (
            Fault::NoHealthyTarget,
            503,
            "Group.NoHealthyTarget",
            Side::Target,
        ),
        (
            Fault::Connect(ConnectError::Exhausted(None)),
            503,
            "Ballast.ResourceExhausted",
            Side::Ballast,
        ),
        (
            Fault::Connect(ConnectError::Timeout),
            504,
            "Target.ConnectTimeout",
            Side::Target,
        ),
        (
            Fault::Connect(ConnectError::Io(io(K::ConnectionRefused))),
            502,
            "Target.ConnectionRefused",
            Side::Target,
        ),
        (
            Fault::Connect(ConnectError::Io(io(K::ConnectionReset))),
            502,
            "Target.ConnectionReset",
            Side::Target,
        ),
        (
            Fault::Connect(ConnectError::Io(io(K::Other))),
            502,
            "Target.ConnectFailed",
            Side::Target,
        ),
        (
            Fault::Connect(ConnectError::Tls(io(K::InvalidData))),
            502,
            "Target.TlsHandshakeFailed",
            Side::Target,
        ),
        (
            Fault::TargetClosed(None),
            502,
            "Target.ConnectionClosed",
            Side::Target,
        ),
        (
            Fault::TargetClosed(Some(io(K::ConnectionReset))),
            502,
            "Target.ConnectionReset",
            Side::Target,
        ),
        (
            Fault::InvalidResponse(ResponseError::TooLarge),
            502,
            "Target.InvalidResponse",
            Side::Target,
        ),
        (
            Fault::ResponseTimeout,
            504,
            "Target.ResponseTimeout",
            Side::Target,
        ),
    ];
    for (fault, status, reason, side) in table {
        assert_eq!(fault.status(), status, "{reason}");
        assert_eq!(fault.reason(), reason);
        assert_eq!(fault.side(), side, "{reason}");
        let reply = fault.reply();
        assert_eq!(
            reply.close,
            side == Side::Client,
            "{reason}: only client faults close"
        );
        assert!(
            reply.body.starts_with(status.to_string().as_bytes()),
            "{reason}"
        );
    }
}
