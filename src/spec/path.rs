//! Field paths such as `bots[0].quota.period`: how every diagnostic names the place it is about.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Path(Vec<Seg>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl Path {
    pub fn root() -> Path {
        Path::default()
    }

    pub fn key(&self, key: &str) -> Path {
        self.with(Seg::Key(key.to_string()))
    }

    pub fn index(&self, index: usize) -> Path {
        self.with(Seg::Index(index))
    }

    pub fn with(&self, seg: Seg) -> Path {
        let mut segs = self.0.clone();
        segs.push(seg);
        Path(segs)
    }

    pub fn segments(&self) -> &[Seg] {
        &self.0
    }

    /// The path itself and every path above it, up to the root.
    pub fn ancestors(&self) -> impl Iterator<Item = Path> + '_ {
        (0..=self.0.len()).rev().map(|n| Path(self.0[..n].to_vec()))
    }
}

impl FromIterator<Seg> for Path {
    fn from_iter<I: IntoIterator<Item = Seg>>(iter: I) -> Path {
        Path(iter.into_iter().collect())
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(key) if i == 0 => write!(f, "{key}")?,
                Seg::Key(key) => write!(f, ".{key}")?,
                Seg::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_the_spec_reads() {
        let path = Path::root().key("bots").index(0).key("quota").key("period");
        assert_eq!(path.to_string(), "bots[0].quota.period");
        let ancestors: Vec<String> = path.ancestors().map(|p| p.to_string()).collect();
        assert_eq!(
            ancestors,
            [
                "bots[0].quota.period",
                "bots[0].quota",
                "bots[0]",
                "bots",
                "(top level)"
            ]
        );
    }
}
