//! Ballast's own HTTP/1.1 codec: request and response heads parsed once (httparse) into
//! ranges over the bytes they arrived in, framing decided by the rules of RFC 9112, heads
//! written afresh for the other side with only what must change, and the chunked coding.
//! Pure: bytes in, decisions and bytes out. The bottom of the crate's request path: it
//! imports only `rewrite`.

pub(crate) mod chunked;
pub(crate) mod desync;
pub(crate) mod fields;
mod lenient;
pub(crate) mod request;
mod request_fields;
mod request_head;
pub(crate) mod response;
mod target;
pub(crate) mod write;

pub(crate) use chunked::{
    hex, trailer_fields, write_chunk_head, write_last_chunk_fields, ChunkError, ChunkedDecoder,
    Piece,
};
pub(crate) use fields::{classify, content_length, valid_authority, Field, FieldKind};
pub(crate) use request::{parse_request, BodyKind, HeadError, HeadLimits, MethodKind, RequestHead};
pub(crate) use response::{parse_response, ResponseBody, ResponseError, ResponseHead};
pub(crate) use write::{
    field, length_field, status_line, write_request_head, Added, ClientFraming, Connection,
    TargetLine,
};
