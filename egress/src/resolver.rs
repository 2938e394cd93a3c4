//! Names → the one address the engine will dial.
//!
//! A name is resolved once per request by the engine itself (fixed answers from the
//! configuration first, then the system resolver through hickory), every answer is classified
//! ([`crate::address`]), and the first that passes is returned: the caller connects to exactly
//! that address, so a second, different answer (DNS rebinding) can never be dialled. An
//! internal answer passes only when `[[addresses.internal_allow]]` names both the host and the
//! range it lies in.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_resolver::TokioResolver;

use crate::address::{RefusedClass, refused_class};
use crate::config::{InternalAllow, ResolverSettings};

/// Why no address can be dialled for a name.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The name has no address.
    #[error("{host} does not resolve")]
    NotFound {
        /// The name.
        host: String,
    },
    /// The resolver failed.
    #[error("cannot resolve {host}: {message}")]
    Lookup {
        /// The name.
        host: String,
        /// The resolver's error.
        message: String,
    },
    /// Every answer is an address of a refused class.
    #[error("{host} resolves to {address}, a {class} address no rule allows")]
    Refused {
        /// The name.
        host: String,
        /// The first refused answer.
        address: IpAddr,
        /// Its class.
        class: RefusedClass,
    },
}

/// The engine's resolver.
pub struct Resolver {
    hosts: BTreeMap<String, Vec<IpAddr>>,
    system: Option<TokioResolver>,
    internal_allow: Vec<InternalAllow>,
}

impl Resolver {
    /// A resolver from the configuration; the system resolver reads `/etc/resolv.conf`.
    pub fn new(
        settings: &ResolverSettings,
        internal_allow: Vec<InternalAllow>,
    ) -> Result<Resolver, ResolveError> {
        let system = if settings.system {
            let builder = TokioResolver::builder_tokio().map_err(|e| ResolveError::Lookup {
                host: "(system resolver)".to_owned(),
                message: e.to_string(),
            })?;
            Some(builder.build().map_err(|e| ResolveError::Lookup {
                host: "(system resolver)".to_owned(),
                message: e.to_string(),
            })?)
        } else {
            None
        };
        let hosts = settings
            .hosts
            .iter()
            .map(|(name, addresses)| (normalize(name), addresses.clone()))
            .collect();
        Ok(Resolver {
            hosts,
            system,
            internal_allow,
        })
    }

    /// Every answer for `host`, fixed answers first.
    async fn answers(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        if let Some(addresses) = self.hosts.get(host) {
            return Ok(addresses.clone());
        }
        let Some(system) = &self.system else {
            return Err(ResolveError::NotFound {
                host: host.to_owned(),
            });
        };
        // A fully qualified query: no search domains from resolv.conf.
        let fqdn = format!("{host}.");
        match system.lookup_ip(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(error) if error.is_no_records_found() => Err(ResolveError::NotFound {
                host: host.to_owned(),
            }),
            Err(error) => Err(ResolveError::Lookup {
                host: host.to_owned(),
                message: error.to_string(),
            }),
        }
    }

    /// Every address `host` resolves to, unchecked: for confirming where an inbound request
    /// comes from, not for dialling.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        self.answers(&normalize(host)).await
    }

    /// The names that point at `address`: fixed answers naming it, then the system
    /// resolver's PTR records. Callers confirm a name by resolving it forward.
    pub async fn names_for(&self, address: IpAddr) -> Vec<String> {
        let mut names: Vec<String> = self
            .hosts
            .iter()
            .filter(|(_, addresses)| addresses.contains(&address))
            .map(|(name, _)| name.clone())
            .collect();
        if let Some(system) = &self.system
            && let Ok(lookup) = system
                .reverse_lookup(hickory_proto::rr::Name::from(address))
                .await
        {
            for record in lookup.answers() {
                if let hickory_proto::rr::RData::PTR(pointer) = &record.data {
                    names.push(normalize(&pointer.0.to_ascii()));
                }
            }
        }
        names
    }

    /// Whether `address` may be dialled for `host`.
    pub fn check(&self, host: &str, address: IpAddr) -> Result<(), ResolveError> {
        match refused_class(address) {
            None => Ok(()),
            Some(_)
                if self
                    .internal_allow
                    .iter()
                    .any(|entry| entry.domain.matches(host) && entry.cidr.contains(&address)) =>
            {
                Ok(())
            }
            Some(class) => Err(ResolveError::Refused {
                host: host.to_owned(),
                address,
                class,
            }),
        }
    }

    /// The address to dial for `host`: the first answer (IPv4 first) that passes [`check`].
    ///
    /// [`check`]: Resolver::check
    pub async fn resolve(&self, host: &str) -> Result<IpAddr, ResolveError> {
        let host = normalize(host);
        let mut answers = self.answers(&host).await?;
        answers.sort_by_key(|address| address.is_ipv6());
        let mut first_refusal = None;
        for address in answers {
            match self.check(&host, address) {
                Ok(()) => return Ok(address),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        Err(first_refusal.unwrap_or(ResolveError::NotFound { host }))
    }
}

/// Lower case without a trailing dot.
pub fn normalize(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(hosts: &[(&str, &[&str])], internal: &[(&str, &str)]) -> Resolver {
        let settings = ResolverSettings {
            system: false,
            hosts: hosts
                .iter()
                .map(|(name, addresses)| {
                    (
                        (*name).to_owned(),
                        addresses.iter().map(|a| a.parse().unwrap()).collect(),
                    )
                })
                .collect(),
        };
        let internal = internal
            .iter()
            .map(|(domain, cidr)| InternalAllow {
                domain: openshell_policy::DomainPattern::parse(domain).unwrap(),
                cidr: cidr.parse().unwrap(),
            })
            .collect();
        Resolver::new(&settings, internal).unwrap()
    }

    #[tokio::test]
    async fn public_answers_pass_and_internal_ones_are_refused() {
        let r = resolver(
            &[
                ("api.hubspot.com", &["203.0.113.10"]),
                ("rebind.example.test", &["127.0.0.1", "203.0.113.11"]),
                ("meta.example.test", &["169.254.169.254"]),
                ("Mixed.Example.Test", &["2001:db8::1", "203.0.113.12"]),
            ],
            &[],
        );
        assert_eq!(
            r.resolve("API.hubspot.com.").await.unwrap().to_string(),
            "203.0.113.10"
        );
        assert_eq!(
            r.resolve("rebind.example.test").await.unwrap().to_string(),
            "203.0.113.11",
            "the internal answer is skipped, never dialled"
        );
        assert_eq!(
            r.resolve("meta.example.test").await.unwrap_err(),
            ResolveError::Refused {
                host: "meta.example.test".into(),
                address: "169.254.169.254".parse().unwrap(),
                class: RefusedClass::Metadata
            }
        );
        assert_eq!(
            r.resolve("mixed.example.test").await.unwrap().to_string(),
            "203.0.113.12",
            "IPv4 first"
        );
        assert!(matches!(
            r.resolve("nowhere.test").await,
            Err(ResolveError::NotFound { .. })
        ));
        // Inbound checks see every answer, and fixed answers work backwards too.
        assert_eq!(r.addresses("rebind.example.test").await.unwrap().len(), 2);
        assert_eq!(
            r.names_for("203.0.113.10".parse().unwrap()).await,
            vec!["api.hubspot.com".to_owned()]
        );
    }

    #[tokio::test]
    async fn internal_ranges_named_in_the_configuration_pass_for_their_hosts_only() {
        let r = resolver(
            &[
                ("smtp.company.com", &["10.1.2.3"]),
                ("other.company.com", &["10.1.2.4"]),
            ],
            &[("smtp.company.com", "10.1.0.0/16")],
        );
        assert!(r.resolve("smtp.company.com").await.is_ok());
        assert!(matches!(
            r.resolve("other.company.com").await,
            Err(ResolveError::Refused { .. })
        ));
    }
}
