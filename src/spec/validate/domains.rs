//! The rules of custom domains: the `domains` declared at the top of a spec, each bot's `domain`, and
//! how the two fit together (every name declared, one bot per base path, one root mapping per domain).

use std::collections::{HashMap, HashSet};

use super::{Checker, MAX_STACK_NAME, is_host_name, is_region};
use crate::spec::file;
use crate::spec::model::{Bot, BotDomain, Domain, ROOT_BASE_PATH, domain_stack_name};
use crate::spec::path::Path;

/// API Gateway takes longer base paths, but a path segment this long is surely a mistake.
const MAX_BASE_PATH: usize = 128;

impl Checker<'_> {
    /// The declared domains, each checked, with its index in the spec, and the indices of those with an
    /// error. A domain with a problem other than a missing name stays in the list (the spec is refused
    /// anyway), so that the bots served on it are not also reported undeclared.
    pub(super) fn domains(
        &mut self,
        path: &Path,
        domains: Option<&[file::Domain]>,
        region: Option<&str>,
        prefix: &str,
    ) -> (Vec<(usize, Domain)>, HashSet<usize>) {
        let mut checked = Vec::new();
        let mut faulty = HashSet::new();
        // Each stack name, with the index and name of the domain that has it.
        let mut stacks: HashMap<String, (usize, String)> = HashMap::new();
        let domains = domains.unwrap_or_default();
        let count = self.count(path, domains.len());
        self.within_limit(
            path,
            count,
            "domains",
            "API Gateway's default quota; serve more bots on each domain with base paths",
        );
        for (i, domain) in domains.iter().enumerate() {
            let at = path.index(i);
            let errors_before = self.collector.errors();
            let Some(domain) = self.domain(&at, domain, region) else {
                continue;
            };
            let stack = domain_stack_name(prefix, &domain.name);
            if stack.len() > MAX_STACK_NAME {
                self.error_hint(
                    &at.key("name"),
                    format!(
                        "the domain's stack name `{stack}` is {} characters long",
                        stack.len()
                    ),
                    format!(
                        "CloudFormation allows {MAX_STACK_NAME}; use a shorter name or stack_prefix"
                    ),
                );
            }
            match stacks.get(&stack.to_ascii_lowercase()) {
                Some((first, name)) => {
                    let message = if *name == domain.name {
                        format!("`{name}` is declared twice (also domains[{first}])")
                    } else {
                        format!(
                            "`{}` would have the same stack `{stack}` as domains[{first}]",
                            domain.name
                        )
                    };
                    self.error_hint(
                        &at.key("name"),
                        message,
                        "declare each domain once; dots become hyphens in stack names, so `a-b.c` and `a.b-c` cannot both be used",
                    );
                }
                None => {
                    stacks.insert(stack.to_ascii_lowercase(), (i, domain.name.clone()));
                }
            }
            if self.collector.errors() > errors_before {
                faulty.insert(i);
            }
            checked.push((i, domain));
        }
        (checked, faulty)
    }

    /// A declared domain; `region` is the spec's, or `None` where it is not known or not compared.
    pub(super) fn domain(
        &mut self,
        path: &Path,
        domain: &file::Domain,
        region: Option<&str>,
    ) -> Option<Domain> {
        let Some(name) = &domain.name else {
            self.error_hint(
                path,
                "a domain needs a `name`",
                "e.g. `name: bots.example.com`",
            );
            return None;
        };
        self.domain_name(&path.key("name"), name);
        match &domain.certificate_arn {
            None => self.error_hint(
                path,
                "a domain needs a `certificate_arn`",
                "the ARN of an ACM certificate for the name, in the region the bots are published in",
            ),
            Some(arn) => self.certificate_arn(&path.key("certificate_arn"), arn, region),
        }
        if let Some(zone) = &domain.hosted_zone_id
            && !is_hosted_zone_id(zone)
        {
            self.error_hint(
                &path.key("hosted_zone_id"),
                format!("`{zone}` is not a Route 53 hosted zone id"),
                "hosted zone ids look like `Z0123456789ABCDEFGHIJ`: `aws route53 list-hosted-zones` shows them",
            );
        }
        Some(Domain {
            name: name.clone(),
            certificate_arn: domain.certificate_arn.clone().unwrap_or_default(),
            hosted_zone_id: domain.hosted_zone_id.clone(),
            security_policy: domain.security_policy.unwrap_or_default(),
        })
    }

    fn domain_name(&mut self, path: &Path, name: &str) {
        if name.ends_with('.') || name.starts_with("*.") {
            self.error_hint(
                path,
                format!("`{name}` is not a domain name botpub can serve"),
                "write the host name itself, without a trailing dot or wildcard, e.g. `bots.example.com`",
            );
        } else if !is_host_name(name) || !name.contains('.') {
            self.error_hint(
                path,
                format!("`{name}` is not a domain name"),
                "a fully qualified host name: labels of letters, digits and inner `-`, separated by dots, at most 253 characters",
            );
        } else if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.error_hint(
                path,
                format!("`{name}` has upper-case letters"),
                format!(
                    "API Gateway keeps domain names in lower case: write `{}`",
                    name.to_ascii_lowercase()
                ),
            );
        }
    }

    /// `arn:PARTITION:acm:REGION:ACCOUNT:certificate/ID`, in the stack's region: a regional domain name
    /// takes only a certificate of its own region.
    fn certificate_arn(&mut self, path: &Path, arn: &str, region: Option<&str>) {
        let Some(certificate_region) = certificate_region(arn) else {
            self.error_hint(
                path,
                format!("`{arn}` is not an ACM certificate ARN"),
                "the form is arn:aws:acm:REGION:ACCOUNT_ID:certificate/ID",
            );
            return;
        };
        if let Some(region) = region
            && certificate_region != region
        {
            self.error_hint(
                path,
                format!("the certificate is in {certificate_region}, the bots in {region}"),
                format!(
                    "a regional custom domain needs a certificate issued or imported in {region}"
                ),
            );
        }
    }

    /// A bot's `domain`, as far as it can be checked alone; [`Checker::domain_uses`] checks it against
    /// the declared domains and the other bots.
    pub(super) fn bot_domain(
        &mut self,
        path: &Path,
        domain: &file::BotDomain,
        bot_id: Option<&str>,
    ) -> Option<BotDomain> {
        let Some(name) = &domain.name else {
            self.error_hint(
                path,
                "a bot's domain needs a `name`",
                "one of the names declared under `domains`",
            );
            return None;
        };
        let base_path = match domain.base_path.as_deref() {
            Some(ROOT_BASE_PATH) => None,
            Some(base_path) => {
                if !is_base_path(base_path) {
                    self.error_hint(
                        &path.key("base_path"),
                        format!("`{base_path}` is not a base path API Gateway can map"),
                        format!("use 1 to {MAX_BASE_PATH} letters, digits, `-`, `_` and `.` (one path segment, no `/`), or `{ROOT_BASE_PATH}` for the domain's root"),
                    );
                }
                Some(base_path.to_string())
            }
            None => Some(bot_id?.to_string()),
        };
        Some(BotDomain {
            name: name.clone(),
            base_path,
        })
    }

    /// Checks the bots' domains against the declared ones: every name declared, each base path (and the
    /// root) used by one bot of a domain, no bot id taking a domain stack's name; warns of unused domains.
    pub(super) fn domain_uses(
        &mut self,
        bots_path: &Path,
        bots: &[Option<Bot>],
        domains: &[(usize, Domain)],
        faulty: &HashSet<usize>,
        declared: &Path,
        prefix: &str,
    ) {
        let mut mapped: HashMap<(&str, Option<&str>), usize> = HashMap::new();
        for (i, bot) in bots.iter().enumerate() {
            let Some(bot) = bot else { continue };
            if let Some((_, domain)) = domains.iter().find(|(_, d)| {
                domain_stack_name(prefix, &d.name)
                    .eq_ignore_ascii_case(&format!("{prefix}-{}", bot.id))
            }) {
                self.error_hint(
                    &bots_path.index(i).key("id"),
                    format!(
                        "the stack of bot `{}` would be the stack of domain `{}`",
                        bot.id, domain.name
                    ),
                    "choose another id: `domain-...` names the stacks of custom domains",
                );
            }
            let Some(wanted) = &bot.domain else { continue };
            let at = bots_path.index(i).key("domain");
            if !domains.iter().any(|(_, d)| d.name == wanted.name) {
                let names: Vec<&str> = domains.iter().map(|(_, d)| d.name.as_str()).collect();
                let hint = match names.as_slice() {
                    [] => "declare it under the top-level `domains`, with its certificate_arn"
                        .to_string(),
                    _ => format!(
                        "declared here: {}; or declare it under `domains`",
                        names.join(", ")
                    ),
                };
                self.error_hint(
                    &at.key("name"),
                    format!("domain `{}` is not declared in `domains`", wanted.name),
                    hint,
                );
                continue;
            }
            let key = (wanted.name.as_str(), wanted.base_path.as_deref());
            match mapped.get(&key) {
                Some(first) => {
                    let (message, hint) = match &wanted.base_path {
                        Some(base_path) => (
                            format!(
                                "base path `{base_path}` of {} is also the base path of bots[{first}]",
                                wanted.name
                            ),
                            "give each bot on a domain its own base path",
                        ),
                        None => (
                            format!("{} maps bots[{first}] at its root already", wanted.name),
                            "one bot per domain may use the root: give this one a base path",
                        ),
                    };
                    self.error_hint(&at.key("base_path"), message, hint);
                }
                None => {
                    mapped.insert(key, i);
                }
            }
        }
        for (i, domain) in domains {
            let at = declared.index(*i);
            // A domain with an error is reported once, for that error.
            if !faulty.contains(i) && !mapped.keys().any(|(name, _)| *name == domain.name) {
                self.warn(
                    &at.key("name"),
                    format!("no bot of this spec is served on `{}`; its stack is published all the same", domain.name),
                );
            }
        }
    }
}

/// The region of an ACM certificate ARN, when `arn` is one.
fn certificate_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ["arn", partition, "acm", region, account, resource] = parts.as_slice() else {
        return None;
    };
    let id = resource.strip_prefix("certificate/")?;
    let ok = partition.starts_with("aws")
        && is_region(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then_some(*region)
}

/// Upper-case letters and digits (AWS's start with `Z`, but that is not promised, and emulators differ).
fn is_hosted_zone_id(zone: &str) -> bool {
    (1..=32).contains(&zone.len())
        && zone
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// One path segment of characters that need no escaping in a URL.
fn is_base_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= MAX_BASE_PATH
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && path != "."
        && path != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_arns_give_their_region() {
        assert_eq!(
            certificate_region("arn:aws:acm:eu-west-1:123456789012:certificate/1a2b-3c4d"),
            Some("eu-west-1")
        );
        assert_eq!(
            certificate_region("arn:aws:acm:eu-west-1:123456789012:key/1a2b"),
            None
        );
        assert_eq!(
            certificate_region("arn:aws:iam::123456789012:server-certificate/x"),
            None
        );
        assert_eq!(
            certificate_region("arn:aws:acm:eu-west-1:1234:certificate/x"),
            None
        );
    }

    #[test]
    fn base_paths_are_one_plain_segment() {
        assert!(is_base_path("support"));
        assert!(is_base_path("v1.2_beta-x"));
        assert!(!is_base_path("a/b"));
        assert!(!is_base_path(".."));
        assert!(!is_base_path("sp ace"));
        assert!(!is_base_path(&"a".repeat(129)));
    }

    #[test]
    fn hosted_zone_ids() {
        assert!(is_hosted_zone_id("Z0123456789ABCDEFGHIJ"));
        assert!(!is_hosted_zone_id("z0123"));
        assert!(!is_hosted_zone_id("/hostedzone/Z0123"));
        assert!(!is_hosted_zone_id(""));
    }
}
