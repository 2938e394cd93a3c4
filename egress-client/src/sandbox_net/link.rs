//! The veth pair, addresses and routes, over rtnetlink (no `ip` processes).
//!
//! Node side: `oshXXXXXXXXXXXX` with the gateway address as a /32 (the same address on every
//! sandbox's veth) and a /32 route to the sandbox. Container side: `eth0` (created directly in
//! the container's namespace, so no name clash with the node's interfaces) with the sandbox
//! address as a /32, a link route to the gateway and the default route through it; `lo` up.

use std::net::{IpAddr, Ipv4Addr};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, State};
use rtnetlink::packet_route::route::RouteScope;
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::NetError;
use super::netns::NetNs;

/// The container side's name.
pub const CONTAINER_INTERFACE: &str = "eth0";

/// What to wire.
#[derive(Clone, Debug)]
pub struct Wiring {
    /// Node-side veth name.
    pub interface: String,
    /// The sandbox's address.
    pub sandbox_ip: Ipv4Addr,
    /// The gateway (the engine's address).
    pub gateway: Ipv4Addr,
}

fn netlink(step: &'static str) -> impl Fn(rtnetlink::Error) -> NetError {
    move |error| NetError::Netlink {
        step,
        message: error.to_string(),
    }
}

/// A netlink handle on the calling thread's namespace, its connection driven by a task.
fn connect() -> Result<Handle, NetError> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(|e| NetError::Netlink {
        step: "open a netlink socket",
        message: e.to_string(),
    })?;
    tokio::spawn(connection);
    Ok(handle)
}

async fn index_of(handle: &Handle, name: &str, step: &'static str) -> Result<u32, NetError> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await.map_err(netlink(step))? {
        Some(link) => Ok(link.header.index),
        None => Err(NetError::Netlink {
            step,
            message: format!("no interface {name}"),
        }),
    }
}

/// How long a new veth may take to come up before the wiring fails.
const LINK_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether the link `index` is operationally up (the kernel has attached its queue: packets
/// sent before that are dropped, and a first TCP SYN lost costs a one-second retransmit).
async fn is_up(handle: &Handle, index: u32) -> Result<bool, NetError> {
    let mut links = handle.link().get().match_index(index).execute();
    let link = links
        .try_next()
        .await
        .map_err(netlink("read the veth's state"))?;
    Ok(link.is_some_and(|link| {
        link.attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::OperState(State::Up)))
    }))
}

/// Waits until both ends of the pair are up.
async fn wait_until_up(
    host: &Handle,
    host_index: u32,
    inside: &Handle,
    inside_index: u32,
) -> Result<(), NetError> {
    let deadline = tokio::time::Instant::now() + LINK_UP_TIMEOUT;
    while !(is_up(host, host_index).await? && is_up(inside, inside_index).await?) {
        if tokio::time::Instant::now() >= deadline {
            return Err(NetError::Netlink {
                step: "bring the veth pair up",
                message: format!("not up after {} ms", LINK_UP_TIMEOUT.as_millis()),
            });
        }
        tokio::time::sleep(std::time::Duration::from_micros(200)).await;
    }
    Ok(())
}

/// Creates and configures both sides. Must run inside a tokio runtime.
pub async fn wire(netns: &NetNs, wiring: &Wiring) -> Result<(), NetError> {
    use std::os::fd::AsRawFd;
    let host = connect()?;
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(CONTAINER_INTERFACE.to_owned())
        .setns_by_fd(netns.file().as_raw_fd())
        .build();
    let veth = LinkMessageBuilder::<LinkVeth>::new(&wiring.interface, CONTAINER_INTERFACE)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    host.link()
        .add(veth)
        .execute()
        .await
        .map_err(netlink("create the veth pair"))?;
    let index = index_of(&host, &wiring.interface, "find the node-side veth").await?;
    host.address()
        .add(index, IpAddr::V4(wiring.gateway), 32)
        .execute()
        .await
        .map_err(netlink("add the gateway address"))?;
    host.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(netlink("bring the node-side veth up"))?;
    host.route()
        .add(
            RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(wiring.sandbox_ip, 32)
                .output_interface(index)
                .scope(RouteScope::Link)
                .build(),
        )
        .execute()
        .await
        .map_err(netlink("route to the sandbox"))?;

    let inside = netns.within(connect)??;
    let lo = index_of(&inside, "lo", "find the container's lo").await?;
    inside
        .link()
        .set(LinkUnspec::new_with_index(lo).up().build())
        .execute()
        .await
        .map_err(netlink("bring the container's lo up"))?;
    let eth0 = index_of(&inside, CONTAINER_INTERFACE, "find the container's eth0").await?;
    inside
        .address()
        .add(eth0, IpAddr::V4(wiring.sandbox_ip), 32)
        .execute()
        .await
        .map_err(netlink("add the sandbox address"))?;
    inside
        .link()
        .set(LinkUnspec::new_with_index(eth0).up().build())
        .execute()
        .await
        .map_err(netlink("bring the container's eth0 up"))?;
    inside
        .route()
        .add(
            RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(wiring.gateway, 32)
                .output_interface(eth0)
                .scope(RouteScope::Link)
                .build(),
        )
        .execute()
        .await
        .map_err(netlink("route to the gateway"))?;
    inside
        .route()
        .add(
            RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(wiring.gateway)
                .output_interface(eth0)
                .build(),
        )
        .execute()
        .await
        .map_err(netlink("default route"))?;
    wait_until_up(&host, index, &inside, eth0).await
}

/// Whether the kernel said there is no such interface.
fn is_absent(error: &rtnetlink::Error) -> bool {
    matches!(error, rtnetlink::Error::NetlinkError(message) if message.raw_code() == -libc::ENODEV)
}

/// Deletes the node-side veth (and with it the container side) if it exists; returns whether
/// it did. Must run inside a tokio runtime.
pub async fn unwire(interface: &str) -> Result<bool, NetError> {
    let host = connect()?;
    let mut links = host.link().get().match_name(interface.to_owned()).execute();
    let index = match links.try_next().await {
        Ok(Some(link)) => link.header.index,
        Ok(None) => return Ok(false),
        Err(error) if is_absent(&error) => return Ok(false),
        Err(error) => return Err(netlink("find the node-side veth")(error)),
    };
    match host.link().del(index).execute().await {
        Ok(()) => Ok(true),
        // Gone in between: the container's namespace went away with its end of the pair.
        Err(error) if is_absent(&error) => Ok(false),
        Err(error) => Err(netlink("delete the veth pair")(error)),
    }
}
