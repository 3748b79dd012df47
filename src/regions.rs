//! The AWS regions botpub knows, so that a mistyped one is refused at once with the nearest real name,
//! instead of after half a minute of retried DNS look-ups of a host that cannot exist.

/// Every region named in the partitions of the AWS SDK botpub is built with (its endpoint data): the
/// commercial partition, China, GovCloud, the isolated partitions and the European sovereign cloud.
pub const KNOWN: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-isoe-west-1",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-west-1",
    "us-west-2",
];

pub fn is_known(region: &str) -> bool {
    KNOWN.contains(&region)
}

/// The known region closest in spelling, when one is close enough to be what was meant.
pub fn nearest(region: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .map(|known| (strsim::damerau_levenshtein(region, known), *known))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, known)| known)
}

/// "`us-eats-1` is not an AWS region (did you mean `us-east-1`?)".
pub fn unknown(region: &str) -> String {
    match nearest(region) {
        Some(near) => format!("`{region}` is not an AWS region (did you mean `{near}`?)"),
        None => format!("`{region}` is not an AWS region"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_suggests_the_region_meant() {
        assert!(is_known("eu-west-1"));
        assert!(!is_known("us-eats-1"));
        assert_eq!(nearest("us-eats-1"), Some("us-east-1"));
        assert_eq!(nearest("eu-wset-2"), Some("eu-west-2"));
        assert_eq!(nearest("mars-north-9"), None);
        assert_eq!(
            unknown("us-eats-1"),
            "`us-eats-1` is not an AWS region (did you mean `us-east-1`?)"
        );
    }
}
