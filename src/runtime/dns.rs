//! DNS seed resolution: A and AAAA records of a seed name, through the system's resolver
//! or an explicitly configured DNS server (private networks, tests).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

/// How long one seed lookup may take in total.
const SEED_LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A resolver for seed lookups. Built per engine, so engines never share DNS state.
pub(crate) struct SeedResolver {
    resolver: TokioResolver,
}

impl SeedResolver {
    /// Uses `server` when given, else the system configuration (/etc/resolv.conf).
    pub fn new(server: Option<SocketAddr>) -> Result<Self, String> {
        let mut opts = ResolverOpts::default();
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        // Seeds rotate their answers; a cache would pin the first one.
        opts.cache_size = 0;
        let provider = TokioConnectionProvider::default();
        let resolver = match server {
            Some(addr) => {
                let servers =
                    NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                let config = ResolverConfig::from_parts(None, vec![], servers);
                TokioResolver::builder_with_config(config, provider)
                    .with_options(opts)
                    .build()
            }
            None => TokioResolver::builder(provider)
                .map_err(|e| format!("cannot read the system DNS configuration: {e}"))?
                .with_options(opts)
                .build(),
        };
        Ok(SeedResolver { resolver })
    }

    /// Every A and AAAA address of `host`.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let lookup = tokio::time::timeout(SEED_LOOKUP_TIMEOUT, self.resolver.lookup_ip(host))
            .await
            .map_err(|_| format!("lookup of {host} timed out"))?
            .map_err(|e| format!("lookup of {host} failed: {e}"))?;
        Ok(lookup.iter().collect())
    }
}

/// Seed lookups the core asks for, each answered back to it.
pub(crate) struct SeedLookups {
    server: Option<SocketAddr>,
}

impl SeedLookups {
    pub fn new(server: Option<SocketAddr>) -> Self {
        SeedLookups { server }
    }

    /// Looks each seed up in the background and hands every answer to the core.
    pub fn resolve(&self, driver: &super::Driver, seeds: Vec<(String, u16)>) {
        let Some(driver) = driver.self_arc() else {
            return;
        };
        let server = self.server;
        driver.clone().spawn(async move {
            let resolver = match SeedResolver::new(server) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot query DNS seeds");
                    return;
                }
            };
            for (host, port) in seeds {
                let answer = resolver.resolve(&host).await;
                driver
                    .run(|node, now| node.seed_resolved(&host, port, answer, now))
                    .await;
            }
        });
    }
}
