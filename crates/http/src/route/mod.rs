//! Listener rules on the request path: compiled conditions, the indexed rule table, and the
//! actions Ballast answers itself (redirects, fixed responses).

mod glob;
mod redirect;
mod table;

pub(crate) use redirect::{redirect_location, RedirectInput};
pub use table::{RequestView, RuleTable};
