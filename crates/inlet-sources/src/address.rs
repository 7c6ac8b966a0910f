//! Which addresses a source may be fetched from.
//!
//! A URL in a sources file, or a redirect it answers with, must not reach
//! inlet's own host, its network or the instance metadata service
//! (169.254.169.254, fd00:ec2::254). The check is on the address a name
//! resolves to, made for every connection and every redirect, so a name that
//! resolves to 127.0.0.1 is refused like the literal. A source that really is
//! on a private network says so with `allow_private_addresses`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A refused address, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{address} is a {kind} address, which sources may not reach; set allow_private_addresses: true on the source if it really is there"
)]
pub struct AddressRefused {
    pub address: IpAddr,
    pub kind: &'static str,
}

/// Whether a source may connect to `address`.
pub fn check(address: IpAddr, allow_private: bool) -> Result<(), AddressRefused> {
    match kind_of(address) {
        Some(kind) if !allow_private => Err(AddressRefused { address, kind }),
        _ => Ok(()),
    }
}

/// The kind of a non-public address; `None` for a public one.
fn kind_of(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => kind_of_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => kind_of_v4(v4),
            None => kind_of_v6(v6),
        },
    }
}

fn kind_of_v4(v4: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = v4.octets();
    if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_link_local() {
        Some("link-local (instance metadata)")
    } else if v4.is_private() {
        Some("private")
    } else if v4.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if v4.is_broadcast() || v4.is_multicast() || a >= 240 {
        Some("broadcast, multicast or reserved")
    } else {
        None
    }
}

fn kind_of_v6(v6: Ipv6Addr) -> Option<&'static str> {
    let first = v6.segments()[0];
    if v6.is_loopback() {
        Some("loopback")
    } else if v6.is_unspecified() {
        Some("unspecified")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 {
        // fd00:ec2::254, the metadata service over IPv6, is one of these.
        Some("unique local (private)")
    } else if v6.is_multicast() {
        Some("multicast")
    } else if let Some(v4) = v6.to_ipv4() {
        // IPv4-compatible (::a.b.c.d), long deprecated: judge the IPv4 inside.
        kind_of_v4(v4)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_private_link_local_and_metadata_are_refused() {
        for (address, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.5.4", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local (instance metadata)"),
            ("169.254.170.2", "link-local (instance metadata)"),
            ("0.0.0.0", "unspecified"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("255.255.255.255", "broadcast, multicast or reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fd00:ec2::254", "unique local (private)"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local (instance metadata)"),
        ] {
            let address: IpAddr = address.parse().unwrap();
            let refused = check(address, false).unwrap_err();
            assert_eq!(refused.kind, kind, "{address}");
            assert!(refused.to_string().contains("allow_private_addresses"));
            assert!(check(address, true).is_ok(), "{address} is allowed when the source says so");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for address in ["93.184.215.14", "1.1.1.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(check(address.parse().unwrap(), false), Ok(()), "{address}");
        }
    }
}
