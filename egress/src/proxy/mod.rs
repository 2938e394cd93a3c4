//! The proxy every sandbox's TCP goes through: the explicit proxy (`HTTP_PROXY`,
//! `HTTPS_PROXY`, CONNECT) and the transparent listener (TCP redirected by the node's nftables
//! table, original destination from `SO_ORIGINAL_DST`).

pub mod first_head;
pub mod http;
pub mod listener;
pub mod responses;
pub mod stream;
pub mod tunnel;
pub mod upstream;
