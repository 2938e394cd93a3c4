//! Which destination addresses the engine refuses unless a rule names them.
//!
//! Following Stripe's smokescreen: a name is resolved once, every answer is classified here, and
//! the connection goes to exactly the address that passed. Refused classes: unspecified,
//! loopback, private (RFC 1918, IPv6 ULA), link-local (including the cloud metadata address
//! 169.254.169.254), carrier-grade NAT (100.64/10), "this network" (0/8), IETF protocol
//! assignments (192.0.0/24), benchmarking (198.18/15), multicast, broadcast and reserved space,
//! and IPv6 addresses that embed an IPv4 address of a refused class (IPv4-mapped and
//! -compatible, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32).
//!
//! The documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24) are not internal and are
//! not refused: nothing routes them on the internet, and the test internet uses them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusedClass {
    /// 0.0.0.0, ::, or 0/8.
    Unspecified,
    /// 127/8, ::1.
    Loopback,
    /// RFC 1918, fc00::/7.
    Private,
    /// 169.254/16 except the metadata address, fe80::/10.
    LinkLocal,
    /// 169.254.169.254, the cloud instance metadata service.
    Metadata,
    /// 100.64/10.
    CarrierGradeNat,
    /// 192.0.0/24, 198.18/15, 240/4, 255.255.255.255, fec0::/10.
    Reserved,
    /// 224/4, ff00::/8.
    Multicast,
}

impl RefusedClass {
    /// The class as named in audit events and error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusedClass::Unspecified => "unspecified",
            RefusedClass::Loopback => "loopback",
            RefusedClass::Private => "private",
            RefusedClass::LinkLocal => "link-local",
            RefusedClass::Metadata => "metadata",
            RefusedClass::CarrierGradeNat => "carrier-grade-nat",
            RefusedClass::Reserved => "reserved",
            RefusedClass::Multicast => "multicast",
        }
    }
}

impl fmt::Display for RefusedClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The refused class of `address`, or `None` for a public address.
pub fn refused_class(address: IpAddr) -> Option<RefusedClass> {
    match address {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(address: Ipv4Addr) -> Option<RefusedClass> {
    let [a, b, c, _] = address.octets();
    if address == Ipv4Addr::new(169, 254, 169, 254) {
        return Some(RefusedClass::Metadata);
    }
    let class = match (a, b, c) {
        (0, _, _) => RefusedClass::Unspecified,
        (127, _, _) => RefusedClass::Loopback,
        (10, _, _) => RefusedClass::Private,
        (172, 16..=31, _) => RefusedClass::Private,
        (192, 168, _) => RefusedClass::Private,
        (169, 254, _) => RefusedClass::LinkLocal,
        (100, 64..=127, _) => RefusedClass::CarrierGradeNat,
        (192, 0, 0) => RefusedClass::Reserved,
        (198, 18..=19, _) => RefusedClass::Reserved,
        (224..=239, _, _) => RefusedClass::Multicast,
        (240..=255, _, _) => RefusedClass::Reserved,
        _ => return None,
    };
    // 255.255.255.255 falls in 240/4.
    Some(class)
}

fn refused_v6(address: Ipv6Addr) -> Option<RefusedClass> {
    let segments = address.segments();
    if address.is_unspecified() {
        return Some(RefusedClass::Unspecified);
    }
    if address.is_loopback() {
        return Some(RefusedClass::Loopback);
    }
    if let Some(v4) = embedded_v4(address) {
        // Mapped and compatible forms are dialled as the IPv4 address itself; NAT64, 6to4 and
        // Teredo reach it through a translator. Either way the embedded address decides.
        return refused_v4(v4);
    }
    match segments[0] {
        0xfc00..=0xfdff => Some(RefusedClass::Private),
        0xfe80..=0xfebf => Some(RefusedClass::LinkLocal),
        0xfec0..=0xfeff => Some(RefusedClass::Reserved),
        0xff00..=0xffff => Some(RefusedClass::Multicast),
        _ => None,
    }
}

/// The IPv4 address embedded in an IPv4-mapped, IPv4-compatible, NAT64, 6to4 or Teredo
/// address.
pub fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = address.segments();
    let low32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
    if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) {
        return Some(low32);
    }
    // 64:ff9b::/96 (well-known NAT64 prefix).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low32);
    }
    // 64:ff9b:1::/48 (local-use NAT64, RFC 8215): the IPv4 address sits in the low 32 bits for
    // the /96 layout used in practice.
    if s[..3] == [0x64, 0xff9b, 1] {
        return Some(low32);
    }
    // 2002:AABB:CCDD::/48 (6to4).
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    // 2001:0000:SERVER:…:CLIENT^ffff (Teredo): the client address is obfuscated (inverted).
    if s[0] == 0x2001 && s[1] == 0 {
        let client = Ipv4Addr::new(
            !((s[6] >> 8) as u8),
            !(s[6] as u8),
            !((s[7] >> 8) as u8),
            !(s[7] as u8),
        );
        return Some(client);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Option<RefusedClass> {
        refused_class(text.parse().unwrap())
    }

    #[test]
    fn internal_ipv4_classes_are_refused() {
        assert_eq!(class("127.0.0.1"), Some(RefusedClass::Loopback));
        assert_eq!(class("10.1.2.3"), Some(RefusedClass::Private));
        assert_eq!(class("172.16.0.1"), Some(RefusedClass::Private));
        assert_eq!(class("172.31.255.255"), Some(RefusedClass::Private));
        assert_eq!(class("192.168.1.1"), Some(RefusedClass::Private));
        assert_eq!(class("169.254.169.254"), Some(RefusedClass::Metadata));
        assert_eq!(class("169.254.1.1"), Some(RefusedClass::LinkLocal));
        assert_eq!(class("100.64.0.1"), Some(RefusedClass::CarrierGradeNat));
        assert_eq!(
            class("100.127.255.255"),
            Some(RefusedClass::CarrierGradeNat)
        );
        assert_eq!(class("0.0.0.0"), Some(RefusedClass::Unspecified));
        assert_eq!(class("0.1.2.3"), Some(RefusedClass::Unspecified));
        assert_eq!(class("224.0.0.1"), Some(RefusedClass::Multicast));
        assert_eq!(class("255.255.255.255"), Some(RefusedClass::Reserved));
        assert_eq!(class("198.18.0.1"), Some(RefusedClass::Reserved));
        assert_eq!(class("192.0.0.8"), Some(RefusedClass::Reserved));
    }

    #[test]
    fn public_ipv4_passes() {
        for text in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "203.0.113.10",
            "198.51.100.7",
            "192.0.2.1",
            "1.1.1.1",
        ] {
            assert_eq!(class(text), None, "{text}");
        }
    }

    #[test]
    fn ipv6_classes_and_embeddings() {
        assert_eq!(class("::1"), Some(RefusedClass::Loopback));
        assert_eq!(class("::"), Some(RefusedClass::Unspecified));
        assert_eq!(class("fd00::1"), Some(RefusedClass::Private));
        assert_eq!(class("fe80::1"), Some(RefusedClass::LinkLocal));
        assert_eq!(class("ff02::1"), Some(RefusedClass::Multicast));
        assert_eq!(class("2606:4700::1111"), None);
        // Embedded internal addresses, in every embedding.
        assert_eq!(class("::ffff:127.0.0.1"), Some(RefusedClass::Loopback));
        assert_eq!(
            class("::ffff:169.254.169.254"),
            Some(RefusedClass::Metadata)
        );
        assert_eq!(class("64:ff9b::10.0.0.1"), Some(RefusedClass::Private));
        assert_eq!(class("64:ff9b:1::192.168.0.1"), Some(RefusedClass::Private));
        assert_eq!(class("2002:a9fe:a9fe::1"), Some(RefusedClass::Metadata));
        assert_eq!(class("2002:7f00:1::1"), Some(RefusedClass::Loopback));
        // Teredo client 10.0.0.1 is stored inverted: f5ff:fffe.
        assert_eq!(
            class("2001:0:4136:e378:8000:63bf:f5ff:fffe"),
            Some(RefusedClass::Private)
        );
        // Embedded public addresses pass.
        assert_eq!(class("::ffff:8.8.8.8"), None);
        assert_eq!(class("64:ff9b::808:808"), None);
        assert_eq!(class("2002:808:808::1"), None);
    }
}
