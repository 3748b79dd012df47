//! The rules a spec must satisfy beyond its shape, and the defaults that make it a [`Spec`].
//!
//! Rules follow the AWS service limits they protect (API Gateway, SQS, WAF, CloudFormation), so a spec that
//! validates does not fail later in a deployment for a reason botpub could have seen offline.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::diagnostic::{Collector, Severity};
use super::file::{self, BackendKind, SpecFile};
use super::limits::{self, Limit};
use super::model::{
    Auth, Backend, Bot, Contract, DEFAULT_PREFIX, Firewall, Monitoring, Queue, Quota, Spec,
    Throttle, TokenBudget,
};
use super::path::{Path, Seg};
use super::read;
use super::yaml::{Node, Pos, Value};

mod domains;

/// Names of shared stacks; a bot with one of these ids would collide with them.
pub const RESERVED_IDS: [&str; 2] = ["firewall", "toolkit"];
const MAX_STACK_NAME: usize = 128;
/// API Gateway's default account-level limits; higher values are allowed but need a quota increase.
const ACCOUNT_RATE_LIMIT: f64 = 10_000.0;
const ACCOUNT_BURST_LIMIT: u64 = 5_000;
/// API Gateway keeps bursts and quotas in 32-bit integers; a larger value would be refused only in the
/// middle of a deployment.
const MAX_COUNT: u64 = limits::COUNT_MAX;
pub const TAG_PREFIX: &str = "botpub:";

struct Checker<'a> {
    /// The node checked, and where it stands in the file: the whole file, or one list item.
    root: &'a Node,
    base: Path,
    /// Paths that already have a shape problem; rules stay quiet under them rather than repeat it.
    shape_problems: &'a HashSet<Path>,
    collector: &'a mut Collector,
}

/// How many items the list (or entries the mapping) at `path` may hold: the tree keeps that many, and the
/// rules refuse more.
pub fn limit(path: &Path) -> Option<usize> {
    match path.segments().last()? {
        Seg::Key(key) => match key.as_str() {
            "allowed_ipv4" | "allowed_ipv6" => Some(limits::RANGES),
            "domains" => Some(limits::DOMAINS),
            "bots" => Some(limits::BOTS),
            "allowed_origins" => Some(limits::ORIGINS),
            "email" => Some(limits::EMAILS),
            "tags" => Some(limits::USER_TAGS),
            "allowed_principals" => Some(limits::PRINCIPALS),
            "allowed_accounts" => Some(limits::ACCOUNTS),
            _ => None,
        },
        Seg::Index(_) => None,
    }
}

/// Checks an item of a list past its limit (`at` an index; for `tags`, an entry, `at` its key) on its own:
/// its shape and its own rules, not those that compare it with the rest of the spec. Its list is refused
/// for its length already.
pub fn past_limit(collection: &Path, at: Seg, node: &Node, collector: &mut Collector) {
    let Some(Seg::Key(list)) = collection.segments().last() else {
        return;
    };
    let path = collection.with(at.clone());
    let mut problems = HashSet::new();
    match list.as_str() {
        "bots" => {
            let bot: Option<file::Bot> =
                read::read_at(node, path.clone(), collector, &mut problems);
            if let Some(bot) = bot {
                Checker::alone(node, &path, &problems, collector).bot(&path, &bot, None);
            }
        }
        "domains" => {
            let domain: Option<file::Domain> =
                read::read_at(node, path.clone(), collector, &mut problems);
            if let Some(domain) = domain {
                Checker::alone(node, &path, &problems, collector).domain(&path, &domain, None);
            }
        }
        list => {
            let text: Option<String> = read::read_at(node, path.clone(), collector, &mut problems);
            let Some(text) = text.filter(|_| problems.is_empty()) else {
                return;
            };
            let mut checker = Checker::alone(node, &path, &problems, collector);
            match (list, at) {
                ("allowed_origins", _) => checker.origin(&path, &text),
                ("email", _) => checker.email(&path, &text),
                ("tags", Seg::Key(key)) => checker.tag(&path, node.pos, &key, &text),
                // A range past the limit: its list is refused whole, as within the limit.
                _ => {}
            }
        }
    }
}

/// Applies the rules to a spec read from `root`, recording what fails in `collector`. Returns the spec
/// with its defaults; it is valid only if `collector` holds no error afterwards.
pub fn validate(
    source: &str,
    file: &SpecFile,
    root: &Node,
    shape_problems: &HashSet<Path>,
    collector: &mut Collector,
) -> Option<Spec> {
    let mut checker = Checker {
        root,
        base: Path::root(),
        shape_problems,
        collector,
    };
    checker.spec(source, file)
}

impl<'a> Checker<'a> {
    /// A checker of one item, `node`, which stands at `path`.
    fn alone(
        node: &'a Node,
        path: &Path,
        shape_problems: &'a HashSet<Path>,
        collector: &'a mut Collector,
    ) -> Checker<'a> {
        Checker {
            root: node,
            base: path.clone(),
            shape_problems,
            collector,
        }
    }

    /// Whether the path or one of its ancestors has a shape problem: a lookup per ancestor, so that a
    /// file with hundreds of thousands of problems is still checked in linear time.
    fn under_shape_problem(&self, path: &Path) -> bool {
        !self.shape_problems.is_empty()
            && path
                .ancestors()
                .any(|ancestor| self.shape_problems.contains(&ancestor))
    }

    fn report(&mut self, level: Severity, path: Path, message: String, hint: Option<String>) {
        if self.under_shape_problem(&path) {
            return;
        }
        let pos = self.locate(&path).pos;
        self.report_at(level, path, pos, message, hint);
    }

    /// `report` with the position already known.
    fn report_at(
        &mut self,
        level: Severity,
        path: Path,
        pos: Pos,
        message: String,
        hint: Option<String>,
    ) {
        if self.under_shape_problem(&path) {
            return;
        }
        if !self.collector.keeps(pos) {
            self.collector.count_only(level, &message);
            return;
        }
        self.collector
            .report(level, pos, path.to_string(), message, hint);
    }

    fn error(&mut self, path: &Path, message: impl Into<String>) {
        self.report(Severity::Error, path.clone(), message.into(), None);
    }

    fn error_hint(&mut self, path: &Path, message: impl Into<String>, hint: impl Into<String>) {
        self.report(
            Severity::Error,
            path.clone(),
            message.into(),
            Some(hint.into()),
        );
    }

    /// The node at `path`, else its nearest ancestor within the node checked.
    fn locate(&self, path: &Path) -> &Node {
        self.find(path).0
    }

    fn find(&self, path: &Path) -> (&Node, bool) {
        let below = path
            .segments()
            .strip_prefix(self.base.segments())
            .unwrap_or_default();
        locate_node(self.root, below)
    }

    /// How many items the list (or entries the mapping) at `path` holds, those past its limit included.
    fn count(&self, path: &Path, kept: usize) -> usize {
        match self.find(path) {
            (node, true) => kept + node.past_limit,
            _ => kept,
        }
    }

    /// Refuses a list longer than its limit.
    fn within_limit(&mut self, path: &Path, count: usize, what: &str, hint: &str) {
        if let Some(limit) = limit(path).filter(|limit| count > *limit) {
            self.error_hint(path, format!("{count} {what}; at most {limit}"), hint);
        }
    }

    fn warn(&mut self, path: &Path, message: impl Into<String>) {
        self.report(Severity::Warning, path.clone(), message.into(), None);
    }

    fn spec(&mut self, source: &str, file: &SpecFile) -> Option<Spec> {
        let root = Path::root();
        match file.version {
            None => self.error_hint(
                &root.key("version"),
                "missing `version`",
                "add `version: 1` at the top of the file",
            ),
            Some(1) => {}
            Some(other) => self.error_hint(
                &root.key("version"),
                format!("unknown spec version {other}"),
                "this botpub reads `version: 1`",
            ),
        }
        if let Some(region) = &file.region {
            if !is_region(region) {
                self.error_hint(
                    &root.key("region"),
                    format!("`{region}` is not an AWS region name"),
                    "regions look like `us-east-1` or `eu-west-2`",
                );
            } else if !crate::regions::is_known(region) {
                // A warning: a custom endpoint may serve any region; AWS itself refuses it before any call.
                self.warn(&root.key("region"), crate::regions::unknown(region));
            }
        }
        let stack_prefix = file
            .stack_prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        if !is_name(&stack_prefix, true) || stack_prefix.len() > 64 {
            self.error_hint(
                &root.key("stack_prefix"),
                format!("`{stack_prefix}` cannot start a stack name"),
                "use at most 64 letters, digits and `-`, starting with a letter",
            );
        }
        let firewall = file
            .firewall
            .as_ref()
            .map(|f| self.firewall(&root.key("firewall"), f));
        let domains_path = root.key("domains");
        let (domains, faulty_domains) = self.domains(
            &domains_path,
            file.domains.as_deref(),
            file.region.as_deref(),
            &stack_prefix,
        );
        let bots_path = root.key("bots");
        let bots = match &file.bots {
            None => {
                self.error_hint(
                    &bots_path,
                    "missing `bots`",
                    "a spec publishes at least one bot: add a `bots:` list",
                );
                Vec::new()
            }
            Some(bots) if bots.is_empty() => {
                self.error_hint(&bots_path, "no bots", "a spec publishes at least one bot");
                Vec::new()
            }
            Some(bots) => {
                let count = self.count(&bots_path, bots.len());
                self.within_limit(
                    &bots_path,
                    count,
                    "bots",
                    "split the fleet over several spec files, each with its own bots",
                );
                bots.iter()
                    .enumerate()
                    .map(|(i, bot)| self.bot(&bots_path.index(i), bot, Some(&stack_prefix)))
                    .collect()
            }
        };
        self.unique_ids(&bots_path, &bots);
        self.domain_uses(
            &bots_path,
            &bots,
            &domains,
            &faulty_domains,
            &domains_path,
            &stack_prefix,
        );
        Some(Spec {
            source: source.to_string(),
            region: file.region.clone(),
            stack_prefix,
            firewall,
            domains: domains.into_iter().map(|(_, domain)| domain).collect(),
            bots: bots.into_iter().collect::<Option<Vec<Bot>>>()?,
        })
    }

    fn unique_ids(&mut self, path: &Path, bots: &[Option<Bot>]) {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, bot) in bots.iter().enumerate() {
            let Some(bot) = bot else { continue };
            match seen.get(&bot.id.to_ascii_lowercase()) {
                Some(first) => self.error_hint(
                    &path.index(i).key("id"),
                    format!("duplicate bot id `{}`", bot.id),
                    format!("bots[{first}] has the same id (ids differing only in case count as the same); give each bot its own id"),
                ),
                None => {
                    seen.insert(bot.id.to_ascii_lowercase(), i);
                }
            }
        }
    }

    fn firewall(&mut self, path: &Path, firewall: &file::Firewall) -> Firewall {
        if firewall.allowed_ipv4.is_empty() && firewall.allowed_ipv6.is_empty() {
            self.error_hint(
                path,
                "the firewall allows no address at all",
                "list ranges under `allowed_ipv4` or `allowed_ipv6`, or remove `firewall` to allow every address",
            );
        }
        Firewall {
            allowed_ipv4: self.ranges(
                &path.key("allowed_ipv4"),
                &firewall.allowed_ipv4,
                Family::V4,
            ),
            allowed_ipv6: self.ranges(
                &path.key("allowed_ipv6"),
                &firewall.allowed_ipv6,
                Family::V6,
            ),
        }
    }

    fn ranges<T: Range>(&mut self, path: &Path, texts: &[String], family: Family) -> Vec<T> {
        let count = self.count(path, texts.len());
        if count > limits::RANGES {
            self.error_hint(
                path,
                format!(
                    "{count} ranges; a WAF IP set holds at most {}",
                    limits::RANGES
                ),
                "merge adjacent ranges into larger ones",
            );
            return Vec::new();
        }
        let mut ranges: Vec<(T, usize)> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            if let Some(range) = self.range(&path.index(i), text, family) {
                ranges.push((range, i));
            }
        }
        self.overlaps(path, &ranges);
        let mut unique = Vec::with_capacity(ranges.len());
        for (range, _) in ranges {
            if !unique.contains(&range) {
                unique.push(range);
            }
        }
        unique
    }

    fn range<T: Range>(&mut self, path: &Path, text: &str, family: Family) -> Option<T> {
        let (this, other) = match family {
            Family::V4 => ("IPv4", "allowed_ipv6"),
            Family::V6 => ("IPv6", "allowed_ipv4"),
        };
        let net = match text.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => {
                let hint = match text.parse::<IpAddr>() {
                    Ok(IpAddr::V4(_)) => format!("a single address is written `{text}/32`"),
                    Ok(IpAddr::V6(_)) => format!("a single address is written `{text}/128`"),
                    Err(_) => {
                        "write a range as address/prefix-length, e.g. `203.0.113.0/24`".to_string()
                    }
                };
                self.error_hint(path, format!("`{text}` is not a CIDR range"), hint);
                return None;
            }
        };
        let Some(range) = T::from_net(net) else {
            self.error_hint(
                path,
                format!("`{text}` is not an {this} range"),
                format!("move it to `{other}`"),
            );
            return None;
        };
        if net.prefix_len() == 0 {
            self.error_hint(
                path,
                format!("`{text}` allows every address"),
                "remove `firewall` to allow every address, or list narrower ranges",
            );
            return None;
        }
        if net.trunc() != net {
            self.error_hint(
                path,
                format!("`{text}` has host bits set"),
                format!("use the network form `{}`", net.trunc()),
            );
            return None;
        }
        Some(range)
    }

    /// Warns where one range lies inside another (CIDR ranges either nest or are disjoint).
    fn overlaps<T: Range>(&mut self, path: &Path, ranges: &[(T, usize)]) {
        let mut sorted: Vec<&(T, usize)> = ranges.iter().collect();
        sorted.sort_by_key(|(range, i)| (range.start(), range.prefix(), *i));
        let mut cover: Option<&(T, usize)> = None;
        for entry in sorted {
            match cover {
                Some((outer, outer_index)) if outer.contains_range(&entry.0) => {
                    let message = if outer == &entry.0 {
                        format!(
                            "`{}` is listed twice (also at index {outer_index})",
                            entry.0
                        )
                    } else {
                        format!("`{}` lies inside `{outer}` (index {outer_index})", entry.0)
                    };
                    self.warn(&path.index(entry.1), message);
                }
                _ => cover = Some(entry),
            }
        }
    }

    /// A bot; `prefix` is the spec's stack prefix, or `None` for a bot checked on its own (past the
    /// limit), whose stack name is not checked.
    fn bot(&mut self, path: &Path, bot: &file::Bot, prefix: Option<&str>) -> Option<Bot> {
        let id = self.bot_id(path, bot.id.as_deref(), prefix);
        let stage = bot.stage.clone().unwrap_or_else(|| "api".to_string());
        if stage.is_empty()
            || stage.len() > 128
            || !stage
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.error_hint(
                &path.key("stage"),
                format!("`{stage}` is not a valid stage name"),
                "use 1 to 128 letters, digits, `-` and `_`",
            );
        }
        let throttle = self.throttle(&path.key("throttle"), bot.throttle.as_ref());
        let quota = bot
            .quota
            .as_ref()
            .and_then(|q| self.quota(&path.key("quota"), q));
        let allowed_origins =
            self.origins(&path.key("allowed_origins"), bot.allowed_origins.as_deref());
        let backend = self.backend(&path.key("backend"), bot.backend.as_ref());
        let contract = bot.contract.unwrap_or_default();
        if contract == Contract::Conversation
            && bot.backend.as_ref().and_then(|b| b.kind) == Some(BackendKind::Lambda)
        {
            self.error_hint(
                &path.key("contract"),
                "the conversation contract needs the queue backend",
                "remove `backend: {type: lambda}` (the worker answers conversations), or the contract",
            );
        }
        let queue = self.queue(&path.key("queue"), bot.queue.as_ref());
        let results_expire_after_days = bot
            .results
            .as_ref()
            .and_then(|r| r.expire_after_days)
            .unwrap_or(limits::EXPIRE_AFTER_DAYS.default);
        if !limits::EXPIRE_AFTER_DAYS.allows(results_expire_after_days) {
            let Limit { min, max, .. } = limits::EXPIRE_AFTER_DAYS;
            self.error(
                &path.key("results").key("expire_after_days"),
                format!(
                    "must be {min} to {max} days (ten years), found {results_expire_after_days}"
                ),
            );
        }
        let tags = self.tags(&path.key("tags"), bot.tags.as_ref());
        let monitoring = bot
            .monitoring
            .as_ref()
            .map(|m| self.monitoring(&path.key("monitoring"), m))
            .unwrap_or_default();
        let domain = bot
            .domain
            .as_ref()
            .and_then(|d| self.bot_domain(&path.key("domain"), d, id.as_deref()));
        let auth = bot
            .auth
            .as_ref()
            .map(|a| self.auth(&path.key("auth"), a))
            .unwrap_or_default();
        let token_budget = bot
            .token_budget
            .as_ref()
            .and_then(|b| self.token_budget(&path.key("token_budget"), b));
        Some(Bot {
            id: id?,
            description: bot.description.clone(),
            stage,
            throttle,
            quota,
            allowed_origins,
            contract,
            backend: backend?,
            queue,
            results_expire_after_days,
            tags,
            monitoring,
            domain,
            auth,
            token_budget,
        })
    }

    fn token_budget(&mut self, path: &Path, budget: &file::TokenBudget) -> Option<TokenBudget> {
        if budget.limit.is_none() {
            self.error_hint(
                path,
                "a token budget needs a `limit`",
                "e.g. `token_budget: { limit: 1000000, period: MONTH }`",
            );
        }
        if budget.period.is_none() {
            self.error_hint(
                path,
                "a token budget needs a `period`",
                "one of DAY, WEEK or MONTH",
            );
        }
        let limit = budget.limit?;
        if !(1..=limits::TOKEN_BUDGET_MAX).contains(&limit) {
            self.error_hint(
                &path.key("limit"),
                format!("{limit} tokens is not a budget"),
                format!("use 1 to {} tokens", limits::TOKEN_BUDGET_MAX),
            );
        }
        Some(TokenBudget {
            limit,
            period: budget.period?,
        })
    }

    /// Who may call: a signed bot names at least one principal or account, each well formed; a bot of
    /// API keys names none, since no resource policy would use them.
    fn auth(&mut self, path: &Path, auth: &file::Auth) -> Auth {
        let checked = Auth {
            kind: auth.kind.unwrap_or_default(),
            allowed_principals: auth.allowed_principals.clone().unwrap_or_default(),
            allowed_accounts: auth.allowed_accounts.clone().unwrap_or_default(),
        };
        let principals = path.key("allowed_principals");
        let accounts = path.key("allowed_accounts");
        if self.under_shape_problem(&path.key("type")) {
            // The type is not known: whether callers may be named depends on it.
        } else if checked.signed() {
            if checked.allowed_principals.is_empty() && checked.allowed_accounts.is_empty() {
                self.error_hint(
                    path,
                    "a bot called with IAM signatures needs `allowed_principals` or `allowed_accounts`",
                    "name the roles that call it, e.g. `allowed_principals: [\"arn:aws:iam::123456789012:role/caller\"]`",
                );
            }
        } else {
            for (list, given) in [
                (&principals, &checked.allowed_principals),
                (&accounts, &checked.allowed_accounts),
            ] {
                if !given.is_empty() {
                    self.error_hint(
                        list,
                        "only a bot with `type: iam` or `type: both` has a resource policy to name callers in",
                        "add `type: iam` (signed calls, no key) or `type: both` (signed calls with a key)",
                    );
                }
            }
        }
        for (i, arn) in checked.allowed_principals.iter().enumerate() {
            if !is_principal_arn(arn) {
                self.error_hint(
                    &principals.index(i),
                    format!("`{arn}` is not the ARN of an IAM role, user or account root"),
                    "use arn:aws:iam::ACCOUNT:role/NAME, arn:aws:iam::ACCOUNT:user/NAME or arn:aws:iam::ACCOUNT:root",
                );
            }
        }
        for (i, account) in checked.allowed_accounts.iter().enumerate() {
            if !is_account_id(account) {
                self.error_hint(
                    &accounts.index(i),
                    format!("`{account}` is not an AWS account id"),
                    "an account id is 12 digits, e.g. \"123456789012\"",
                );
            }
        }
        checked
    }

    fn monitoring(&mut self, path: &Path, monitoring: &file::Monitoring) -> Monitoring {
        let defaults = Monitoring::default();
        let checked = Monitoring {
            enabled: monitoring.enabled.unwrap_or(true),
            max_wait_minutes: monitoring
                .max_wait_minutes
                .unwrap_or(defaults.max_wait_minutes),
            max_5xx: monitoring.max_5xx.unwrap_or(defaults.max_5xx),
            max_4xx_percent: monitoring
                .max_4xx_percent
                .unwrap_or(defaults.max_4xx_percent),
            email: monitoring.email.clone().unwrap_or_default(),
            topic_arn: monitoring.topic_arn.clone(),
            max_tokens_per_hour: monitoring.max_tokens_per_hour,
        };
        if let Some(tokens) = checked.max_tokens_per_hour
            && !(1..=limits::TOKEN_BUDGET_MAX).contains(&tokens)
        {
            self.error_hint(
                &path.key("max_tokens_per_hour"),
                format!("{tokens} tokens is outside the alarm's range"),
                format!("use 1 to {} tokens an hour", limits::TOKEN_BUDGET_MAX),
            );
        }
        if !limits::MAX_WAIT_MINUTES.allows(checked.max_wait_minutes) {
            let Limit { min, max, .. } = limits::MAX_WAIT_MINUTES;
            self.error_hint(
                &path.key("max_wait_minutes"),
                format!(
                    "{} minutes is outside the alarm's range",
                    checked.max_wait_minutes
                ),
                format!("use {min} to {max} minutes (a day)"),
            );
        }
        if !limits::MAX_5XX.allows(checked.max_5xx) {
            let Limit { min, max, .. } = limits::MAX_5XX;
            self.error_hint(
                &path.key("max_5xx"),
                format!("{} is outside the alarm's range", checked.max_5xx),
                format!("use {min} to {max} responses in 5 minutes"),
            );
        }
        if !limits::MAX_4XX_PERCENT.allows(checked.max_4xx_percent) {
            let Limit { min, max, .. } = limits::MAX_4XX_PERCENT;
            self.error_hint(
                &path.key("max_4xx_percent"),
                format!(
                    "{}% is not a percentage the alarm can use",
                    checked.max_4xx_percent
                ),
                format!("use {min} to {max}"),
            );
        }
        let emails = path.key("email");
        let count = self.count(&emails, checked.email.len());
        self.within_limit(
            &emails,
            count,
            "addresses",
            "send alarms to a mailing list, or to a topic of yours with `topic_arn`",
        );
        for (i, email) in checked.email.iter().enumerate() {
            self.email(&emails.index(i), email);
        }
        if let Some(arn) = &checked.topic_arn {
            if !is_topic_arn(arn) {
                self.error_hint(
                    &path.key("topic_arn"),
                    format!("`{arn}` is not an SNS topic ARN"),
                    "the form is arn:aws:sns:REGION:ACCOUNT_ID:TOPIC_NAME",
                );
            }
            if !checked.email.is_empty() {
                self.error_hint(
                    &path.key("topic_arn"),
                    "`email` and `topic_arn` both name who is told",
                    "keep one: `email` creates a topic with those subscriptions, `topic_arn` uses yours",
                );
            }
        }
        if !checked.enabled
            && (monitoring.max_wait_minutes.is_some()
                || monitoring.max_5xx.is_some()
                || monitoring.max_4xx_percent.is_some()
                || !checked.email.is_empty()
                || checked.topic_arn.is_some())
        {
            self.warn(
                &path.key("enabled"),
                "monitoring is disabled: its other settings are ignored",
            );
        }
        checked
    }

    fn email(&mut self, path: &Path, email: &str) {
        if !is_email(email) {
            self.error_hint(
                path,
                format!("`{email}` is not an email address"),
                "the form is name@example.com",
            );
        }
    }

    fn bot_id(&mut self, path: &Path, id: Option<&str>, prefix: Option<&str>) -> Option<String> {
        let path = path.key("id");
        let Some(id) = id else {
            self.error_hint(
                &path,
                "missing `id`",
                "every bot needs an `id`, e.g. `id: support-bot`",
            );
            return None;
        };
        if !is_name(id, false) {
            self.error_hint(
                &path,
                format!("`{id}` is not a valid bot id"),
                "use letters, digits and `-`, starting with a letter or digit",
            );
        } else if RESERVED_IDS.iter().any(|r| r.eq_ignore_ascii_case(id)) {
            let prefix = prefix.unwrap_or("<stack_prefix>");
            self.error_hint(
                &path,
                format!("`{id}` is reserved"),
                format!(
                    "`{prefix}-{id}` names a stack botpub shares between bots; choose another id"
                ),
            );
        } else if let Some(prefix) = prefix
            && prefix.len() + 1 + id.len() > MAX_STACK_NAME
        {
            self.error_hint(
                &path,
                format!(
                    "the stack name `{prefix}-{id}` is {} characters long",
                    prefix.len() + 1 + id.len()
                ),
                format!(
                    "CloudFormation allows {MAX_STACK_NAME}; shorten the id or the stack_prefix"
                ),
            );
        }
        Some(id.to_string())
    }

    fn throttle(&mut self, path: &Path, throttle: Option<&file::Throttle>) -> Throttle {
        let rate_limit = throttle
            .and_then(|t| t.rate_limit)
            .unwrap_or(limits::RATE_LIMIT_DEFAULT);
        let burst_limit = throttle
            .and_then(|t| t.burst_limit)
            .unwrap_or(limits::BURST_LIMIT_DEFAULT);
        if rate_limit <= 0.0 {
            self.error_hint(
                &path.key("rate_limit"),
                format!("rate_limit must be positive, found {rate_limit}"),
                "requests per second, e.g. `rate_limit: 50`",
            );
        } else if rate_limit > ACCOUNT_RATE_LIMIT {
            self.warn(
                &path.key("rate_limit"),
                format!("{rate_limit} rps is above API Gateway's default account limit of {ACCOUNT_RATE_LIMIT} rps; it applies only after a quota increase"),
            );
        }
        if burst_limit == 0 {
            self.error_hint(
                &path.key("burst_limit"),
                "burst_limit must be positive, found 0",
                "e.g. `burst_limit: 100`",
            );
        } else if burst_limit > ACCOUNT_BURST_LIMIT
            && self.fits(&path.key("burst_limit"), burst_limit)
        {
            self.warn(
                &path.key("burst_limit"),
                format!("a burst of {burst_limit} is above API Gateway's default account limit of {ACCOUNT_BURST_LIMIT}; it applies only after a quota increase"),
            );
        }
        Throttle {
            rate_limit,
            burst_limit,
        }
    }

    /// Refuses a count AWS cannot store; true when it fits.
    fn fits(&mut self, path: &Path, value: u64) -> bool {
        let fits = value <= MAX_COUNT;
        if !fits {
            self.error_hint(
                path,
                format!("{value} is too large"),
                format!("AWS keeps this number in 32 bits: at most {MAX_COUNT}"),
            );
        }
        fits
    }

    fn quota(&mut self, path: &Path, quota: &file::Quota) -> Option<Quota> {
        if quota.limit.is_none() {
            self.error_hint(
                path,
                "a quota needs a `limit`",
                "e.g. `quota: { limit: 10000, period: MONTH }`",
            );
        }
        if quota.period.is_none() {
            self.error_hint(
                path,
                "a quota needs a `period`",
                "one of DAY, WEEK or MONTH",
            );
        }
        let limit = quota.limit?;
        let offset = quota.offset.unwrap_or(0);
        if limit == 0 {
            self.error(&path.key("limit"), "limit must be at least 1");
        } else if self.fits(&path.key("limit"), limit) && offset >= limit {
            self.error_hint(
                &path.key("offset"),
                format!("offset {offset} is not below the limit {limit}"),
                "the offset is the number of requests already used in the first period: 0 up to limit - 1",
            );
        }
        Some(Quota {
            limit,
            period: quota.period?,
            offset,
        })
    }

    fn origins(&mut self, path: &Path, origins: Option<&[String]>) -> Vec<String> {
        let Some(origins) = origins else {
            self.error_hint(
                path,
                "missing `allowed_origins`",
                "list the browser origins that may call the API, e.g. `allowed_origins: [\"https://app.example.com\"]`",
            );
            return Vec::new();
        };
        if origins.is_empty() {
            self.error_hint(
                path,
                "allowed_origins is empty",
                "list at least one origin, e.g. `https://app.example.com`",
            );
        }
        let count = self.count(path, origins.len());
        self.within_limit(
            path,
            count,
            "origins",
            "allow every origin with `[\"*\"]`, or publish the bot more than once",
        );
        let any = origins.iter().any(|o| o == "*");
        if any && count > 1 {
            self.error_hint(
                path,
                "`*` is mixed with other origins",
                "use either `[\"*\"]` alone or a list of origins",
            );
        } else if any {
            self.warn(path, "`*` lets every website call this API from a browser; list your origins in production");
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, origin) in origins.iter().enumerate() {
            let item = path.index(i);
            if let Some(first) = seen.insert(origin.as_str(), i) {
                self.warn(
                    &item,
                    format!("`{origin}` is listed twice (also at index {first})"),
                );
            }
            self.origin(&item, origin);
        }
        origins.to_vec()
    }

    fn origin(&mut self, path: &Path, origin: &str) {
        if origin != "*"
            && let Err(hint) = check_origin(origin)
        {
            self.error_hint(path, format!("`{origin}` is not an origin"), hint);
        }
    }

    fn backend(&mut self, path: &Path, backend: Option<&file::Backend>) -> Option<Backend> {
        let Some(backend) = backend else {
            return Some(Backend::Queue {
                worker_function_arn: None,
            });
        };
        let worker_function_arn = backend.worker_function_arn.clone();
        if let Some(arn) = &worker_function_arn {
            self.lambda_arn(&path.key("worker_function_arn"), arn);
        }
        match backend.kind.unwrap_or(BackendKind::Queue) {
            BackendKind::Queue => {
                if backend.function_arn.is_some() {
                    self.error_hint(
                        &path.key("function_arn"),
                        "function_arn applies only to `type: lambda`",
                        "set `type: lambda`, or remove function_arn to keep the queue backend",
                    );
                }
                Some(Backend::Queue {
                    worker_function_arn,
                })
            }
            BackendKind::Lambda => {
                let Some(function_arn) = backend.function_arn.clone() else {
                    self.error_hint(
                        path,
                        "`type: lambda` needs a `function_arn`",
                        "e.g. `function_arn: arn:aws:lambda:us-east-1:123456789012:function:my-bot`",
                    );
                    return None;
                };
                self.lambda_arn(&path.key("function_arn"), &function_arn);
                Some(Backend::Lambda {
                    function_arn,
                    worker_function_arn,
                })
            }
        }
    }

    fn lambda_arn(&mut self, path: &Path, arn: &str) {
        if let Err(problem) = check_lambda_arn(arn) {
            self.error_hint(
                path,
                format!("`{arn}` is not a Lambda function ARN: {problem}"),
                "the form is arn:aws:lambda:REGION:ACCOUNT_ID:function:NAME[:ALIAS_OR_VERSION]",
            );
        }
    }

    fn queue(&mut self, path: &Path, queue: Option<&file::QueueSettings>) -> Queue {
        let (visibility_limit, receives_limit, days_limit) = (
            limits::VISIBILITY_TIMEOUT_SECONDS,
            limits::MAX_RECEIVE_COUNT,
            limits::RETENTION_DAYS,
        );
        let visibility = queue
            .and_then(|q| q.visibility_timeout_seconds)
            .unwrap_or(visibility_limit.default);
        let receives = queue
            .and_then(|q| q.max_receive_count)
            .unwrap_or(receives_limit.default);
        let days = queue
            .and_then(|q| q.retention_days)
            .unwrap_or(days_limit.default);
        if !visibility_limit.allows(visibility) {
            self.error_hint(
                &path.key("visibility_timeout_seconds"),
                format!("{visibility} s is beyond SQS's limit"),
                format!(
                    "use {} to {} seconds (12 hours)",
                    visibility_limit.min, visibility_limit.max
                ),
            );
        }
        if !receives_limit.allows(receives) {
            self.error_hint(
                &path.key("max_receive_count"),
                format!("{receives} is outside SQS's limits"),
                format!("use {} to {}", receives_limit.min, receives_limit.max),
            );
        }
        let seconds = |days: f64| (days * 86_400.0).round();
        let retention_seconds = seconds(days);
        if !(seconds(days_limit.min)..=seconds(days_limit.max)).contains(&retention_seconds) {
            self.error_hint(
                &path.key("retention_days"),
                format!("{days} days is outside SQS's retention limits"),
                "use 1 minute (0.000695) to 14 days",
            );
        }
        Queue {
            visibility_timeout_seconds: visibility,
            max_receive_count: receives,
            retention_seconds: retention_seconds.clamp(0.0, u64::MAX as f64) as u64,
        }
    }

    fn tags(
        &mut self,
        path: &Path,
        tags: Option<&BTreeMap<String, String>>,
    ) -> BTreeMap<String, String> {
        let Some(tags) = tags else {
            return BTreeMap::new();
        };
        let count = self.count(path, tags.len());
        if count > limits::USER_TAGS {
            self.error(
                path,
                format!(
                    "{count} tags; at most {} fit beside botpub's own",
                    limits::USER_TAGS
                ),
            );
        }
        let node = self.locate(path);
        let positions: HashMap<String, Pos> = match &node.value {
            Value::Map(entries) => entries
                .iter()
                .map(|e| (e.key.clone(), e.value.pos))
                .collect(),
            _ => HashMap::new(),
        };
        let fallback = node.pos;
        for (key, value) in tags {
            let pos = positions.get(key.as_str()).copied().unwrap_or(fallback);
            self.tag(&path.key(key), pos, key, value);
        }
        tags.clone()
    }

    /// One tag, at `pos` (its value's).
    fn tag(&mut self, at: &Path, pos: Pos, key: &str, value: &str) {
        let lower = key.to_ascii_lowercase();
        if lower.starts_with("aws:") || lower.starts_with(TAG_PREFIX) {
            let message = format!(
                "tag keys starting with `{}` are reserved",
                &key[..key.find(':').unwrap_or(0) + 1]
            );
            self.report_at(Severity::Error, at.clone(), pos, message, None);
        } else if key.is_empty() || key.chars().count() > 128 || !key.chars().all(tag_char) {
            self.report_at(
                Severity::Error,
                at.clone(),
                pos,
                format!("`{key}` is not a valid tag key"),
                Some("1 to 128 letters, digits, spaces and _ . : / = + - @".to_string()),
            );
        }
        if value.chars().count() > 256 || !value.chars().all(tag_char) {
            self.report_at(
                Severity::Error,
                at.clone(),
                pos,
                "not a valid tag value".to_string(),
                Some("up to 256 letters, digits, spaces and _ . : / = + - @".to_string()),
            );
        }
    }
}

#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
}

/// An IPv4 or IPv6 range, so the range rules are written once.
trait Range: Copy + PartialEq + std::fmt::Display {
    type Addr: Ord;
    fn from_net(net: IpNet) -> Option<Self>;
    fn start(&self) -> Self::Addr;
    fn prefix(&self) -> u8;
    fn contains_range(&self, other: &Self) -> bool;
}

macro_rules! range {
    ($net:ty, $addr:ty, $variant:ident) => {
        impl Range for $net {
            type Addr = $addr;
            fn from_net(net: IpNet) -> Option<Self> {
                match net {
                    IpNet::$variant(net) => Some(net),
                    _ => None,
                }
            }
            fn start(&self) -> Self::Addr {
                self.network()
            }
            fn prefix(&self) -> u8 {
                self.prefix_len()
            }
            fn contains_range(&self, other: &Self) -> bool {
                self.contains(other)
            }
        }
    };
}

range!(Ipv4Net, std::net::Ipv4Addr, V4);
range!(Ipv6Net, std::net::Ipv6Addr, V6);

/// The node at `path` below `root`, else its nearest ancestor that exists, and whether it is the node itself.
fn locate_node<'n>(root: &'n Node, path: &[Seg]) -> (&'n Node, bool) {
    let mut node = root;
    for seg in path {
        let next = match (&node.value, seg) {
            (Value::Map(entries), Seg::Key(key)) => {
                entries.iter().find(|e| &e.key == key).map(|e| &*e.value)
            }
            (Value::Seq(items), Seg::Index(i)) => items.get(*i).map(|n| &**n),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => return (node, false),
        }
    }
    (node, true)
}

fn is_name(text: &str, letter_first: bool) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| {
        if letter_first {
            c.is_ascii_alphabetic()
        } else {
            c.is_ascii_alphanumeric()
        }
    }) && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// `name@domain.tld`, without spaces: what SNS's email protocol takes.
fn is_email(text: &str) -> bool {
    let Some((name, domain)) = text.split_once('@') else {
        return false;
    };
    !name.is_empty()
        && text.len() <= 254
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| !label.is_empty())
}

/// `arn:PARTITION:sns:REGION:ACCOUNT_ID:NAME`.
fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:PARTITION:iam::ACCOUNT:root`, `...:role/[PATH/]NAME` or `...:user/[PATH/]NAME`, with IAM's
/// characters for names and paths. No wildcards: a resource policy of botpub's names callers exactly.
fn is_principal_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [head, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let name_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    let principal = match resource.split_once('/') {
        None => resource == "root",
        Some((kind @ ("role" | "user"), rest)) => {
            let name = rest.rsplit('/').next().unwrap_or_default();
            let limit = if kind == "role" { 64 } else { 128 };
            (1..=limit).contains(&name.len())
                && rest.len() <= 512
                && rest
                    .split('/')
                    .all(|part| !part.is_empty() && part.chars().all(name_char))
        }
        Some(_) => false,
    };
    head == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && is_account_id(account)
        && principal
}

fn is_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && (1..=256).contains(&parts[5].len())
        && parts[5]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A host name by RFC 1123: dot-separated labels of 1 to 63 letters, digits and inner `-`, at most 253
/// characters in all.
fn is_host_name(host: &str) -> bool {
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    !host.is_empty() && host.len() <= 253 && host.split('.').all(valid_label)
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

/// An origin as browsers send it: `scheme://host[:port]`, lower-case, no default port, no path.
fn check_origin(origin: &str) -> Result<(), String> {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err("an origin is `https://host[:port]`, `http://host[:port]` or `*`".to_string());
    };
    if scheme != "https" && scheme != "http" {
        return Err(format!("the scheme must be http or https, not `{scheme}`"));
    }
    if let Some(slash) = rest.find(['/', '?', '#']) {
        return Err(format!(
            "an origin has no path; use `{scheme}://{}`",
            &rest[..slash]
        ));
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6
                .split_once(']')
                .ok_or("an IPv6 host is written `[address]`")?;
            addr.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("`{addr}` is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or("nothing but `:port` may follow an IPv6 host")?,
                ),
            };
            (&rest[..addr.len() + 2], port)
        }
        None => match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    if let Some(port) = port {
        // Digits only: `u16::from_str` also takes a leading `+`, which no browser sends.
        let number = port
            .parse::<u16>()
            .ok()
            .filter(|_| port.bytes().all(|b| b.is_ascii_digit()));
        match number {
            None | Some(0) => return Err(format!("`{port}` is not a port number")),
            Some(443) if scheme == "https" => {
                return Err(format!(
                    "browsers omit the default port; use `https://{host}`"
                ));
            }
            Some(80) if scheme == "http" => {
                return Err(format!(
                    "browsers omit the default port; use `http://{host}`"
                ));
            }
            Some(_) => {}
        }
    }
    if host.starts_with('[') {
        return Ok(());
    }
    if !is_host_name(host) {
        return Err(format!("`{host}` is not a host name"));
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        let lower = origin.to_ascii_lowercase();
        return Err(format!(
            "browsers send the host in lower case; use `{lower}`"
        ));
    }
    Ok(())
}

fn check_lambda_arn(arn: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = arn.splitn(8, ':').collect();
    let [
        arn_,
        partition,
        service,
        region,
        account,
        kind,
        name,
        rest @ ..,
    ] = parts.as_slice()
    else {
        return Err("too few parts");
    };
    let qualifier = rest.first();
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if *arn_ != "arn"
        || !(partition.starts_with("aws")
            && partition
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-'))
    {
        Err("it must start with `arn:aws`")
    } else if *service != "lambda" {
        Err("the service must be `lambda`")
    } else if !is_region(region) {
        Err("the region part is not a region")
    } else if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        Err("the account id must be 12 digits")
    } else if *kind != "function" {
        Err("the resource must be `function:NAME`")
    } else if !name_ok(name) {
        Err("the function name must be 1 to 64 letters, digits, `-` or `_`")
    } else if qualifier.is_some_and(|q| {
        q.is_empty()
            || q.len() > 128
            || !q
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$')
    }) {
        Err("the qualifier must be a version or alias name")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_as_browsers_send_them() {
        assert!(check_origin("https://app.example.com").is_ok());
        assert!(check_origin("http://localhost:3000").is_ok());
        assert!(check_origin("https://[::1]:8443").is_ok());
        assert!(
            check_origin("https://app.example.com/")
                .unwrap_err()
                .contains("no path")
        );
        assert!(
            check_origin("https://App.example.com")
                .unwrap_err()
                .contains("lower case")
        );
        assert!(
            check_origin("https://app.example.com:443")
                .unwrap_err()
                .contains("default port")
        );
        assert!(check_origin("ftp://x.example").is_err());
        assert!(check_origin("app.example.com").is_err());
        assert!(check_origin("https://a'b.example").is_err());
        assert!(check_origin("https://x.example:99999").is_err());
        assert!(check_origin("https://x.example:+8080").is_err());
        assert!(check_origin("https://[::1]'x\"$y").is_err());
        assert!(check_origin("https://[::1]x:8443").is_err());
    }

    #[test]
    fn lambda_arns() {
        assert!(check_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:bot").is_ok());
        assert!(
            check_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:bot:live").is_ok()
        );
        assert!(check_lambda_arn("arn:aws-cn:lambda:cn-north-1:123456789012:function:bot").is_ok());
        assert!(check_lambda_arn("arn:aws:lambda:us-east-1:1234:function:bot").is_err());
        assert!(check_lambda_arn("arn:aws:s3:us-east-1:123456789012:function:bot").is_err());
        assert!(check_lambda_arn("arn:aws:lambda:us-east-1:123456789012:layer:bot").is_err());
        assert!(check_lambda_arn("not an arn").is_err());
    }

    #[test]
    fn regions() {
        assert!(is_region("us-east-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("useast1"));
        assert!(!is_region("US-EAST-1"));
        assert!(!is_region("us-east-+1"));
    }
}
