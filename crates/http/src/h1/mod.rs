//! HTTP/1 client connections: wait for a request head, serve the request, and again. The
//! connection loop (`server`), one request from its head (`proxy`), the answers
//! (`respond`), the request body on its way to a target (`client_body`) and the response
//! body on its way back (`stream`). Bytes are parsed and written by `codec`.

mod client_body;
pub(crate) mod conn;
mod io;
mod proxy;
mod request_box;
mod respond;
mod server;
mod stream;
mod switch;
mod target_head;
mod to_h2;
mod waf_body;

pub(crate) use conn::H1Conn;
pub(crate) use server::serve_h1;
pub(crate) use stream::Download;
