//! Listener rules on the request path: compiled conditions, the indexed rule table, what
//! rules are matched against, and the `Location` of redirects.

mod glob;
mod redirect;
mod request;
mod table;

pub(crate) use redirect::{redirect_location, RedirectInput};
pub(crate) use request::{client_ip, normalized_path};
pub use table::{RequestView, RuleTable};
