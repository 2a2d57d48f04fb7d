//! Ballast's own HTTP/1.1: request and response heads parsed once (httparse) into ranges
//! over the bytes they arrived in, framing decided by the rules of RFC 9112, heads written
//! afresh for the other side with only what must change, and bodies passed on or re-framed.
//! The codec (`request`, `response`, `chunked`, `write`) is pure; `server`, `proxy`,
//! `client_body` and `stream` do the I/O of a client connection.

mod chunked;
mod client_body;
mod fields;
mod io;
mod proxy;
mod request;
mod response;
mod server;
mod stream;
mod write;

pub(crate) use chunked::{write_chunk_head, write_last_chunk};
pub(crate) use chunked::{ChunkError, ChunkedDecoder, Piece};
pub(crate) use fields::{classify, content_length, valid_authority, Field, FieldKind};
pub(crate) use request::{parse_request, BodyKind, HeadError, HeadLimits, RequestHead};
pub(crate) use response::{parse_response, ResponseBody, ResponseError, ResponseHead};
pub(crate) use server::serve_h1;
pub(crate) use stream::Download;
pub(crate) use write::{
    field, length_field, status_line, write_request_head, Added, ClientFraming, Connection,
    TargetLine,
};
