//! Draws a revision DAG as text, newest first, in the style of `git log --graph`.
//!
//! Each column ("lane") waits for the revision it will reach next. A node takes the
//! lane waiting for it; extra lanes waiting for the same node close with `/` (a branch
//! point), and extra parents of a merge open new lanes with `\`.

/// One output line: graph characters, and the revision drawn on it (None for edges).
#[derive(Debug, PartialEq, Eq)]
pub struct Row {
    pub art: String,
    pub node: Option<usize>,
}

/// Lays out `newest_first` (a reverse topological order); `parents` gives each node's
/// parents, in the order they should be drawn left to right.
pub fn draw<'a>(newest_first: &[usize], parents: impl Fn(usize) -> &'a [usize]) -> Vec<Row> {
    let mut lanes: Vec<Option<usize>> = Vec::new();
    let mut rows = Vec::new();
    for &node in newest_first {
        let waiting: Vec<usize> = (0..lanes.len())
            .filter(|&i| lanes[i] == Some(node))
            .collect();
        let col = match waiting.first() {
            Some(&col) => col,
            None => match lanes.iter().position(Option::is_none) {
                Some(free) => free,
                None => {
                    lanes.push(None);
                    lanes.len() - 1
                }
            },
        };
        if waiting.len() > 1 {
            let mut art = blank(lanes.len());
            for (i, lane) in lanes.iter().enumerate() {
                if waiting[1..].contains(&i) {
                    art[2 * i - 1] = '/';
                } else if lane.is_some() {
                    art[2 * i] = '|';
                }
            }
            for &i in &waiting[1..] {
                lanes[i] = None;
            }
            rows.push(edge(art));
        }
        lanes[col] = Some(node);
        let mut art = blank(lanes.len());
        for (i, lane) in lanes.iter().enumerate() {
            if i == col {
                art[2 * i] = '*';
            } else if lane.is_some() {
                art[2 * i] = '|';
            }
        }
        rows.push(Row {
            art: art.iter().collect::<String>().trim_end().to_owned(),
            node: Some(node),
        });

        let node_parents = parents(node);
        match node_parents.split_first() {
            None => lanes[col] = None,
            Some((&first, rest)) => {
                lanes[col] = Some(first);
                if !rest.is_empty() {
                    let before = lanes.clone();
                    for (k, &p) in rest.iter().enumerate() {
                        let at = col + 1 + k;
                        if lanes.get(at).is_some_and(Option::is_none) {
                            lanes[at] = Some(p);
                        } else {
                            lanes.insert(at, Some(p));
                        }
                    }
                    let mut art = blank(lanes.len());
                    for (i, lane) in before.iter().enumerate() {
                        if i <= col && lane.is_some() {
                            art[2 * i] = '|';
                        } else if i > col && lane.is_some() {
                            art[2 * i + 1] = '\\';
                        }
                    }
                    for k in 0..rest.len() {
                        art[2 * (col + k) + 1] = '\\';
                    }
                    rows.push(edge(art));
                }
            }
        }
        while lanes.last().is_some_and(Option::is_none) {
            lanes.pop();
        }
    }
    rows
}

fn blank(lanes: usize) -> Vec<char> {
    vec![' '; 2 * lanes + 2]
}

fn edge(art: Vec<char>) -> Row {
    Row {
        art: art.iter().collect::<String>().trim_end().to_owned(),
        node: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(order: &[usize], parents: &[Vec<usize>]) -> String {
        draw(order, |i| parents[i].as_slice())
            .iter()
            .map(|r| match r.node {
                Some(n) => format!("{} {n}", r.art),
                None => r.art.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn diamond() {
        // 0 <- 1 <- 2, 1 <- 3, (2, 3) <- 4
        let parents = vec![vec![], vec![0], vec![1], vec![1], vec![2, 3]];
        assert_eq!(
            render(&[4, 3, 2, 1, 0], &parents),
            "* 4\n|\\\n| * 3\n* | 2\n|/\n* 1\n* 0"
        );
    }

    #[test]
    fn two_heads() {
        let parents = vec![vec![], vec![0], vec![0]];
        assert_eq!(render(&[2, 1, 0], &parents), "* 2\n| * 1\n|/\n* 0");
    }

    #[test]
    fn linear() {
        let parents = vec![vec![], vec![0], vec![1]];
        assert_eq!(render(&[2, 1, 0], &parents), "* 2\n* 1\n* 0");
    }
}
