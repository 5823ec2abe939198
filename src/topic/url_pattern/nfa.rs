//! A Thompson automaton and its simulation: how a component's pattern is matched in time linear
//! in the input, whatever the pattern.
//!
//! The automaton has one state per character set, plus splits, jumps and assertions between them.
//! The simulation keeps the set of states the input so far can have reached (each state at most
//! once), and advances all of them together by one character at a time. So each input character
//! costs at most one visit per state: matching is O(input length × states), with no
//! backtracking, and a pattern such as `*a*a*a*a*b` against `aaaa…` costs the same as any other
//! of its size. (A backtracking engine, as JavaScript's, can take exponential time there; that is
//! the "catastrophic backtracking" the Mercure specification asks hubs to avoid.)
//!
//! The number of states is bounded when the automaton is built: a repetition count such as
//! `{1000}` copies its body, so the size is worked out before anything is built.

use std::fmt;

use super::regexp::{Assertion, CharSet, Node};
use super::UrlPatternError;

#[derive(Debug, Clone)]
enum State {
    /// Consumes one character in the set, then goes to `next`.
    Set { set: CharSet, next: usize },
    /// Goes on to both.
    Split(usize, usize),
    /// Goes on to the state without consuming anything.
    Jump(usize),
    /// Goes on only where the assertion holds.
    Assert(Assertion, usize),
    /// The whole input matched.
    Match,
}

/// A compiled automaton for one component.
#[derive(Clone)]
pub(super) struct Nfa {
    states: Vec<State>,
    start: usize,
}

impl fmt::Debug for Nfa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The states themselves would drown any message they are printed in.
        f.debug_struct("Nfa").field("states", &self.states.len()).finish_non_exhaustive()
    }
}

/// How many states `node` compiles to, exactly, saturating (a huge count is only ever compared
/// with a limit).
fn size(node: &Node) -> usize {
    match node {
        Node::Empty => 0,
        Node::Set(_) | Node::Assert(_) => 1,
        Node::Concat(nodes) => nodes.iter().map(size).fold(0, usize::saturating_add),
        Node::Alternate(nodes) => nodes.iter().map(size).fold(nodes.len().saturating_sub(1), usize::saturating_add),
        Node::Repeat { node, min, max } => {
            // `min` copies, then either one looping copy and its split, or `max - min` optional
            // copies with a split each.
            let body = size(node);
            let (copies, splits) = match max {
                None => (u64::from(*min) + 1, 1),
                Some(max) => (u64::from(*max), u64::from(max.saturating_sub(*min))),
            };
            let total = (body as u64).saturating_mul(copies).saturating_add(splits);
            usize::try_from(total).unwrap_or(usize::MAX)
        }
    }
}

impl Nfa {
    /// Compiles `node`, anchored at both ends, into at most `max_states` states (the final match
    /// state included).
    pub(super) fn compile(node: &Node, max_states: usize) -> Result<Nfa, UrlPatternError> {
        let needed = size(node).saturating_add(1);
        if needed > max_states {
            return Err(UrlPatternError::TooComplex { states: needed, max: max_states });
        }
        let mut nfa = Nfa { states: vec![State::Match], start: 0 };
        nfa.start = nfa.emit(node, 0);
        debug_assert_eq!(nfa.states.len(), needed, "size() is what emit() builds");
        Ok(nfa)
    }

    /// The number of states: what bounds the cost of each input character.
    pub(super) fn len(&self) -> usize {
        self.states.len()
    }

    fn push(&mut self, state: State) -> usize {
        self.states.push(state);
        self.states.len() - 1
    }

    /// Builds `node` so that it continues to `next` once matched, and returns its first state.
    /// Building back to front means every state's successor already exists.
    fn emit(&mut self, node: &Node, next: usize) -> usize {
        match node {
            Node::Empty => next,
            Node::Set(set) => self.push(State::Set { set: set.clone(), next }),
            Node::Assert(assertion) => self.push(State::Assert(*assertion, next)),
            Node::Concat(nodes) => nodes.iter().rev().fold(next, |next, node| self.emit(node, next)),
            Node::Alternate(nodes) => {
                let mut starts: Vec<usize> = nodes.iter().map(|node| self.emit(node, next)).collect();
                let mut first = starts.pop().unwrap_or(next);
                while let Some(start) = starts.pop() {
                    first = self.push(State::Split(start, first));
                }
                first
            }
            Node::Repeat { node, min, max } => {
                let mut tail = match max {
                    None => {
                        // A loop: the split goes into the body, whose end comes back to the split.
                        let split = self.push(State::Jump(next));
                        let body = self.emit(node, split);
                        self.states[split] = State::Split(body, next);
                        split
                    }
                    Some(max) => {
                        let mut tail = next;
                        for _ in *min..*max {
                            let body = self.emit(node, tail);
                            tail = self.push(State::Split(body, next));
                        }
                        tail
                    }
                };
                for _ in 0..*min {
                    tail = self.emit(node, tail);
                }
                tail
            }
        }
    }

    /// Whether the automaton matches all of `input`, adding to `steps` one per state visited: at
    /// most `(input length + 1) × states`.
    pub(super) fn is_match_counting(&self, input: &str, steps: &mut u64) -> bool {
        let mut simulation =
            Simulation { nfa: self, seen: vec![0; self.states.len()], generation: 0, stack: Vec::new(), steps };
        let mut chars = input.chars().peekable();
        let mut current = Vec::new();
        let mut next = Vec::new();
        simulation.add_closure(self.start, &mut current, None, chars.peek().copied());
        while let Some(c) = chars.next() {
            if current.is_empty() {
                return false;
            }
            let following = chars.peek().copied();
            simulation.generation += 1;
            for &state in &current {
                if let State::Set { set, next: after } = &self.states[state] {
                    if set.contains(c) {
                        simulation.add_closure(*after, &mut next, Some(c), following);
                    }
                }
            }
            std::mem::swap(&mut current, &mut next);
            next.clear();
        }
        current.iter().any(|&state| matches!(self.states[state], State::Match))
    }
}

struct Simulation<'a> {
    nfa: &'a Nfa,
    /// The generation in which each state was last added: a state is in the list being built
    /// exactly when its entry equals `generation`, so no list ever holds a state twice.
    seen: Vec<u64>,
    generation: u64,
    stack: Vec<usize>,
    steps: &'a mut u64,
}

impl Simulation<'_> {
    /// Adds `state` and everything it reaches without consuming a character to `list`, keeping
    /// only the states that consume one (and the match state). `before` and `after` are the
    /// characters around the position, for the assertions.
    fn add_closure(&mut self, state: usize, list: &mut Vec<usize>, before: Option<char>, after: Option<char>) {
        self.stack.push(state);
        while let Some(state) = self.stack.pop() {
            if self.seen[state] == self.generation + 1 {
                continue;
            }
            self.seen[state] = self.generation + 1;
            *self.steps += 1;
            match &self.nfa.states[state] {
                State::Set { .. } | State::Match => list.push(state),
                State::Jump(next) => self.stack.push(*next),
                State::Split(first, second) => {
                    self.stack.push(*second);
                    self.stack.push(*first);
                }
                State::Assert(assertion, next) => {
                    // `\w`'s set (`CharSet::word`), without building it per character.
                    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                    let holds = match assertion {
                        Assertion::Start => before.is_none(),
                        Assertion::End => after.is_none(),
                        Assertion::WordBoundary => is_word(before) != is_word(after),
                        Assertion::NotWordBoundary => is_word(before) == is_word(after),
                    };
                    if holds {
                        self.stack.push(*next);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::regexp::parse_regexp;
    use super::*;

    impl Nfa {
        fn is_match(&self, input: &str) -> bool {
            self.is_match_counting(input, &mut 0)
        }
    }

    fn nfa(source: &str) -> Nfa {
        Nfa::compile(&parse_regexp(source).unwrap(), 10_000).unwrap()
    }

    #[test]
    fn matches_whole_input_only() {
        let digits = nfa("\\d+");
        assert!(digits.is_match("2024"));
        assert!(!digits.is_match("2024a") && !digits.is_match("") && !digits.is_match("a1"));
        let either = nfa("blank|sourcedoc");
        assert!(either.is_match("blank") && either.is_match("sourcedoc") && !either.is_match("blanksourcedoc"));
        let counted = nfa("a{2,3}b{2}c{1,}");
        assert!(counted.is_match("aabbc") && counted.is_match("aaabbccc"));
        assert!(
            !counted.is_match("abbc")
                && !counted.is_match("aaaabbc")
                && !counted.is_match("aabbbc")
                && !counted.is_match("aabb")
        );
        let optional = nfa("(?:ab)?c*");
        assert!(
            optional.is_match("") && optional.is_match("ab") && optional.is_match("abcc") && !optional.is_match("a")
        );
        let empty_loop = nfa("(?:a?)*b");
        assert!(empty_loop.is_match("b") && empty_loop.is_match("aab"));
    }

    #[test]
    fn assertions() {
        assert!(nfa("^a$").is_match("a"));
        assert!(!nfa("a^b").is_match("ab"));
        assert!(nfa("a\\b").is_match("a") && !nfa("a\\bb").is_match("ab"));
        assert!(nfa("a\\b-").is_match("a-") && nfa("a\\Bb").is_match("ab") && !nfa("a\\B-").is_match("a-"));
        assert!(nfa("(?:^|x)a").is_match("a") && nfa("(?:^|x)a").is_match("xa"));
    }

    #[test]
    fn sizes_are_bounded_before_building() {
        let huge = parse_regexp("(?:(?:a{1000}){1000}){1000}").unwrap();
        assert!(matches!(Nfa::compile(&huge, 4096), Err(UrlPatternError::TooComplex { .. })));
        let exact = parse_regexp("a{10}").unwrap();
        let needed = size(&exact) + 1;
        assert!(Nfa::compile(&exact, needed).is_ok());
        assert!(Nfa::compile(&exact, needed - 1).is_err());
        for source in ["a{2,5}", "(?:ab|c)*d+", "x?", "[a-z]{3,}", "(?:a|)+"] {
            let node = parse_regexp(source).unwrap();
            let built = Nfa::compile(&node, 1000).unwrap();
            assert_eq!(built.len(), size(&node) + 1, "{source}");
        }
    }

    #[test]
    fn pathological_patterns_cost_linear_steps() {
        // `(?:a*)*b`, `(?:a|a)*b`, `a*a*a*a*a*b`: exponential for a backtracking engine on a run of
        // `a`s with no `b`.
        for source in ["(?:a*)*b", "(?:a|a)*b", "a*a*a*a*a*a*a*a*a*a*b", "(?:a|aa)*c", "(?:.*a){20}b"] {
            let automaton = nfa(source);
            for length in [10usize, 1_000, 20_000] {
                let input = "a".repeat(length);
                let mut steps = 0;
                assert!(!automaton.is_match_counting(&input, &mut steps), "{source}");
                let bound = (length as u64 + 1) * automaton.len() as u64;
                assert!(steps <= bound, "{source} on {length}: {steps} steps > {bound}");
            }
        }
    }
}
